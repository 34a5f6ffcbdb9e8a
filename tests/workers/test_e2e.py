"""End to end with real processes: gateway(s) and worker(s) on Redis, vendors faked."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from core.incidents.store import IncidentStore
from tests.fakes.server import Recorded, Reply
from tests.fakes.vendors import FakePagerDuty, FakeSlack, fake_pagerduty, fake_slack
from tests.workers.e2e import System, alertmanager_body, eventually, system, write_rules

pytestmark = pytest.mark.slow
__all__ = ["fake_pagerduty", "fake_slack"]  # fixtures

KEY = "checkout:service=checkout"


@pytest.fixture
def gw(processes: System) -> System:
    processes.start_gateway()
    processes.start_worker()
    return processes


def triggers(pd: FakePagerDuty, routing_key: str | None = None) -> list[dict]:
    return pd.events(action="trigger", routing_key=routing_key)


def test_trigger_then_resolve(gw: System, fake_pagerduty: FakePagerDuty, fake_slack: FakeSlack):
    assert gw.post(alertmanager_body("f1")) == 202
    fake_pagerduty.wait_for_events(1, "trigger", timeout=15)
    event = triggers(fake_pagerduty)[0]
    assert event["dedup_key"] == KEY
    assert event["routing_key"] == "rk-oncall-e2e"
    assert event["payload"]["severity"] == "critical"
    eventually(lambda: fake_slack.roots())
    assert gw.post(alertmanager_body("f1", status="resolved")) == 202
    fake_pagerduty.wait_for_events(1, "resolve", timeout=15)
    assert fake_pagerduty.events(action="resolve")[0]["dedup_key"] == KEY
    eventually(lambda: fake_slack.updates())
    store = IncidentStore(gw.redis, gw.prefix, window=_hour())
    incident = store.get(KEY)
    assert incident is not None
    assert incident.status == "resolved"


def _hour():
    from datetime import timedelta

    return timedelta(hours=1)


def test_duplicates_from_two_gateways_and_several_workers_page_once(
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
):
    with system(redis_url, key_prefix, tmp_path, fake_pagerduty, fake_slack) as gw:
        gw.start_gateway()
        gw.start_gateway()
        gw.start_worker(processes=3)
        body = alertmanager_body("dup")
        with httpx.Client(timeout=10) as client, ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda i: gw.post(body, i % 2, client), range(300)))
        assert codes == [202] * 300
        fake_pagerduty.wait_for_events(1, "trigger", timeout=15)
        store = IncidentStore(gw.redis, gw.prefix, window=_hour())
        eventually(lambda: (i := store.get(KEY)) is not None and i.alert_count == 300)
        time.sleep(1.0)  # time for a second page, if any were coming
        assert len(triggers(fake_pagerduty)) == 1
        assert len(fake_slack.roots()) == 1


def test_grouping_by_service(gw: System, fake_pagerduty: FakePagerDuty):
    for fingerprint in ("g1", "g2", "g3"):
        assert gw.post(alertmanager_body(fingerprint)) == 202
    assert gw.post(alertmanager_body("s1", service="search")) == 202
    fake_pagerduty.wait_for_events(2, "trigger", timeout=15)
    time.sleep(0.5)
    keys = sorted(e["dedup_key"] for e in triggers(fake_pagerduty))
    assert keys == sorted([KEY, "default:am:s1"])


def test_escalation_across_three_steps_stops_at_acknowledgement(
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
):
    with system(redis_url, key_prefix, tmp_path, fake_pagerduty, fake_slack, wait="2s") as gw:
        gw.start_gateway()
        gw.start_worker()
        assert gw.post(alertmanager_body("e1")) == 202
        fake_pagerduty.wait_for_events(1, "trigger", timeout=15)
        eventually(lambda: triggers(fake_pagerduty, "rk-lead-e2e"), timeout=10)
        store = IncidentStore(gw.redis, gw.prefix, window=_hour())
        assert store.acknowledge(KEY, "jane", "on it", datetime.now(UTC)) is not None
        eventually(lambda: len(fake_pagerduty.events(action="acknowledge")) == 2, timeout=10)
        time.sleep(3.0)  # past the third step's due time
        assert triggers(fake_pagerduty, "rk-cto-e2e") == []
        assert {e["routing_key"] for e in fake_pagerduty.events(action="acknowledge")} == {
            "rk-oncall-e2e",
            "rk-lead-e2e",
        }


def test_severity_raised_in_place(
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
):
    with system(redis_url, key_prefix, tmp_path, fake_pagerduty, fake_slack, severity="SEV3") as gw:
        gw.start_gateway()
        gw.start_worker()
        assert gw.post(alertmanager_body("r1")) == 202
        fake_pagerduty.wait_for_events(1, "trigger", timeout=15)
        assert triggers(fake_pagerduty)[0]["payload"]["severity"] == "warning"
        write_rules(gw.rules, severity="SEV1")  # ops raise the rule; the gateway reloads
        store = IncidentStore(gw.redis, gw.prefix, window=_hour())

        def raised() -> bool:
            gw.post(alertmanager_body("r2"))
            incident = store.get(KEY)
            return incident is not None and incident.severity == "SEV1"

        eventually(raised, timeout=15, every=0.5)
        kinds = [t.kind for t in store.timeline(KEY)]
        assert kinds.count("opened") == 1
        assert kinds.count("severity_raised") == 1
        replies = eventually(
            lambda: [m for m in fake_slack.messages() if "SEV1" in json.dumps(m)], timeout=10
        )
        assert replies


def test_429_then_success(gw: System, fake_pagerduty: FakePagerDuty):
    fake_pagerduty.respond(429, retry_after=1)
    assert gw.post(alertmanager_body("t1")) == 202
    fake_pagerduty.wait_for_events(1, "trigger", timeout=20)
    tries = [r for r in fake_pagerduty.requests if r.path == "/v2/enqueue"]
    assert [r.status for r in tries] == [429, 202]
    assert tries[1].at - tries[0].at >= 1.0


def test_400_goes_to_dead_letters(gw: System, fake_pagerduty: FakePagerDuty):
    fake_pagerduty.respond(400)
    assert gw.post(alertmanager_body("b1")) == 202
    letters = eventually(lambda: gw.cli("dead-letters", "list").splitlines(), timeout=15)
    letter = json.loads(letters[0])
    assert letter["incident"] == KEY
    assert letter["error"].startswith("permanent")
    assert "rk-oncall-e2e" not in letters[0]
    assert "replaying" in gw.cli("dead-letters", "replay", letter["id"])
    fake_pagerduty.wait_for_events(1, "trigger", timeout=15)


class HeldPagerDuty(FakePagerDuty):
    """Signals when a request arrives, so a test can kill the worker mid-delivery."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def _serve(self, request: Recorded) -> Reply | None:
        self.arrived.set()
        return super()._serve(request)


def test_a_worker_killed_mid_delivery_still_delivers_once(
    redis_url: str, key_prefix: str, tmp_path: Path, fake_slack: FakeSlack
):
    with (
        HeldPagerDuty() as pagerduty,
        system(redis_url, key_prefix, tmp_path, pagerduty, fake_slack) as gw,
    ):
        gw.start_gateway()
        worker = gw.start_worker()
        pagerduty.delay(120)  # the first page hangs: the worker dies waiting for it
        assert gw.post(alertmanager_body("k1")) == 202
        assert pagerduty.arrived.wait(15)
        gw.kill(worker)
        gw.start_worker()
        pagerduty.wait_for_events(1, "trigger", timeout=75)
        assert len(triggers(pagerduty)) == 1
