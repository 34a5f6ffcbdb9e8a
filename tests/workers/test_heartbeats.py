"""Heartbeats as timelines: beats and checks at virtual times in, the exact pages out."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis

from core.handoff import stream_key
from core.heartbeats import HeartbeatStore
from core.models import Alert
from core.rules.model import Heartbeat, Policy
from core.silences import SilenceStore
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, Equal, alert, classified, hand_off, policy
from workers.intake import heartbeat_checks
from workers.intake.reader import GROUP

KEY = "heartbeat:watchdog"


def watchdog(**changes: object) -> Heartbeat:
    beat = Heartbeat(
        name="watchdog",
        period=timedelta(minutes=1),
        grace=timedelta(minutes=2),
        severity="SEV2",
        escalation="standard",
        labels={"team": "sre", "service": "monitoring"},
        from_alert=(Equal("alertname", "Watchdog"),),
        tokens=("hb-token",),
    )
    return dataclasses.replace(beat, **changes)  # type: ignore[arg-type]


def rules(*heartbeats: Heartbeat) -> Policy:
    found = heartbeats or (watchdog(),)
    return dataclasses.replace(policy(), heartbeats={h.name: h for h in found})


@pytest.fixture
def h(redis_client: redis.Redis, key_prefix: str) -> Iterator[Harness]:
    made = make_harness(redis_client, key_prefix, rules())
    yield made
    _forget_jobs(made)


def watchdog_alert(at: datetime, status: str = "firing") -> Alert:
    base = alert("am:watchdog", status, level="info", received_at=at)  # type: ignore[arg-type]
    labels = {"alertname": "Watchdog", "prometheus": "k8s"}
    return base.model_copy(update={"labels": labels, "service": None})


def beat(h: Harness, status: str = "firing") -> None:
    """Alertmanager posts Watchdog now; the workers take what is waiting."""
    hand_off(
        h.ctx.redis, h.ctx.prefix, *classified(h.ctx.policy, watchdog_alert(h.clock.now, status))
    )
    h.run_due()


CHECK_EVERY = timedelta(seconds=30)  # workers check every 5 s; under OUTAGE is enough


def at(h: Harness, minutes: float, beating: bool = False) -> None:
    """Move to T0 + minutes, the workers checking the deadlines and doing what is due on
    the way, as often as they do when they run; `beating`: Watchdog comes every minute."""
    end = T0 + timedelta(minutes=minutes)
    last_beat = h.clock.now
    while h.clock.now < end:
        h.clock.now = min(end, h.clock.now + CHECK_EVERY)
        if beating and h.clock.now - last_beat >= timedelta(minutes=1):
            beat(h)
            last_beat = h.clock.now
        heartbeat_checks.check(h.ctx)
        h.run_due()


def jump(h: Harness, minutes: float) -> None:
    """Move to T0 + minutes with nobody checking on the way (Redis or the workers down)."""
    h.clock.now = T0 + timedelta(minutes=minutes)
    heartbeat_checks.check(h.ctx)
    h.run_due()


def pages(h: Harness) -> list[tuple[str, str]]:
    return h.pagerduty.actions()


def chat(h: Harness) -> list[str]:
    return [n.action for n in h.slack.sent]


def store(h: Harness) -> HeartbeatStore:
    return HeartbeatStore(h.ctx.redis, h.ctx.prefix)


def state(h: Harness) -> str:
    return store(h).statuses(h.ctx.policy)[0].state


def test_a_fresh_install_without_watchdog_pages_nobody(h: Harness):
    at(h, 120)
    assert pages(h) == []
    assert chat(h) == []
    assert state(h) == "waiting"


def test_armed_by_the_first_beat_missed_after_period_and_grace_restored_by_the_next(h: Harness):
    beat(h)
    assert state(h) == "healthy"
    at(h, 2.99)
    assert pages(h) == []
    at(h, 3)  # last beat 10:00, period 1m, grace 2m
    assert pages(h) == [("trigger", "oncall")]
    assert chat(h) == ["trigger"]
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    assert incident.severity == "SEV2"
    assert (
        incident.title == "Heartbeat watchdog missed: no beat since 10:00 UTC (period 1m, grace 2m)"
    )
    assert incident.labels["team"] == "sre"
    assert incident.labels["heartbeat"] == "watchdog"
    assert state(h) == "missed"
    at(h, 4)  # the next check finds nothing new
    assert pages(h) == [("trigger", "oncall")]
    h.clock.now = T0 + timedelta(minutes=6)
    beat(h)  # Prometheus is back
    assert pages(h) == [("trigger", "oncall"), ("resolve", "oncall")]
    resolved = h.ctx.store.get(KEY)
    assert resolved is not None
    assert resolved.status == "resolved"
    assert state(h) == "healthy"


def test_the_feeding_alert_opens_no_incident_and_leaves_nothing_in_the_intake(h: Harness):
    for minute in range(10):
        h.clock.now = T0 + timedelta(minutes=minute)
        beat(h)
        heartbeat_checks.check(h.ctx)
    beat(h, status="resolved")  # a resolve of the feeding alert is consumed too
    assert pages(h) == []
    assert chat(h) == []
    assert h.ctx.store.get("default:am:watchdog") is None
    stream = stream_key(h.ctx.prefix, "SEV2")
    assert h.ctx.redis.xlen(stream) == 0
    assert h.ctx.redis.xpending(stream, GROUP)["pending"] == 0
    assert store(h).statuses(h.ctx.policy)[0].last_beat == T0 + timedelta(minutes=9)


def test_a_missed_heartbeat_escalates_like_any_incident_until_it_beats_again(h: Harness):
    beat(h)
    at(h, 3)
    at(h, 8)  # standard path: step 2 after 5m
    assert pages(h) == [("trigger", "oncall"), ("trigger", "eng-lead")]
    h.clock.now = T0 + timedelta(minutes=9)
    beat(h)
    at(h, 30, beating=True)  # the cto step never comes
    assert pages(h)[:2] == [("trigger", "oncall"), ("trigger", "eng-lead")]
    assert sorted(pages(h)[2:]) == [("resolve", "eng-lead"), ("resolve", "oncall")]


def test_a_long_silence_keeps_its_incident_open_and_pages_once(h: Harness):
    beat(h)
    at(h, 3 * 60)
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    assert incident.status == "open"
    assert incident.alert_count > 1  # said again every half window
    first = [p for p in pages(h) if p[1] == "oncall"]
    assert first == [("trigger", "oncall")]


def test_a_paused_heartbeat_never_pages_and_resume_gives_a_full_period(h: Harness):
    beat(h)
    assert store(h).pause(watchdog(), T0 + timedelta(minutes=1), "alice")
    at(h, 120)
    assert pages(h) == []
    status = store(h).statuses(h.ctx.policy)[0]
    assert (status.state, status.paused_by) == ("paused", "alice")
    assert store(h).resume(watchdog(), h.clock.now)
    at(h, 122.9)
    assert pages(h) == []
    at(h, 123)
    assert pages(h) == [("trigger", "oncall")]


def test_a_miss_under_a_silence_opens_the_incident_and_notifies_nobody(h: Harness):
    silences = SilenceStore(h.ctx.redis, h.ctx.prefix)
    silences.create(
        ['heartbeat="watchdog"'], T0, T0 + timedelta(hours=1), "prom upgrade", "bob", T0
    )
    beat(h)
    at(h, 3)
    assert pages(h) == []
    assert chat(h) == []
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    assert incident.status == "open"
    h.clock.now = T0 + timedelta(minutes=20)
    beat(h)  # back before the window closes: nothing was sent, nothing to resolve
    at(h, 90, beating=True)
    assert pages(h) == []
    assert chat(h) == []


def test_a_miss_still_going_when_the_silence_ends_pages_then(h: Harness):
    silences = SilenceStore(h.ctx.redis, h.ctx.prefix)
    silences.create(['heartbeat="watchdog"'], T0, T0 + timedelta(minutes=30), "", "bob", T0)
    beat(h)
    at(h, 34)  # the silence ends at 30; step 2 would be due at 35
    assert pages(h) == [("trigger", "oncall")]


def test_one_incident_per_heartbeat_when_several_expire_in_one_check(
    redis_client: redis.Redis, key_prefix: str
):
    beats = [watchdog(name=f"cron-{i}", from_alert=None) for i in range(3)]
    h = make_harness(redis_client, key_prefix, rules(*beats))
    try:
        for heartbeat in beats:
            store(h).beat(heartbeat, T0)
        at(h, 3)
        assert sorted(pages(h)) == [("trigger", "oncall")] * 3
        keys = {n.incident.key for n in h.pagerduty.sent}
        assert keys == {"heartbeat:cron-0", "heartbeat:cron-1", "heartbeat:cron-2"}
    finally:
        _forget_jobs(h)


def test_workers_checking_at_once_write_one_alert_per_miss(h: Harness):
    beats = [watchdog(name=f"job-{i}", from_alert=None) for i in range(30)]
    h.ctx.policy_source = lambda: rules(*beats)
    for heartbeat in beats:
        store(h).beat(heartbeat, T0)
    h.clock.now = T0 + timedelta(minutes=5)
    found: list[int] = []
    start = threading.Barrier(4)

    def checker() -> None:
        start.wait()
        found.append(len(heartbeat_checks.check(h.ctx)))

    threads = [threading.Thread(target=checker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(found) == 30
    assert h.ctx.redis.xlen(stream_key(h.ctx.prefix, "SEV2")) == 30
    h.run_due()
    assert len(pages(h)) == 30


def test_a_beat_that_lands_while_a_check_reads_wins(h: Harness):
    beat(h)
    heartbeat = watchdog()
    stale_deadline = (T0 + heartbeat.allowance).timestamp()
    h.clock.now = T0 + timedelta(minutes=3)
    beat(h)  # moves the deadline after the check read it
    missed = store(h)._expire_one(h.ctx.policy, heartbeat, stale_deadline, h.clock.now)
    assert missed is None
    h.run_due()
    assert pages(h) == []


def test_an_older_beat_delivered_late_does_not_move_the_deadline_back(h: Harness):
    h.clock.now = T0 + timedelta(minutes=10)
    beat(h)
    assert store(h).beat(watchdog(), T0) == "stale"
    at(h, 12.5)
    assert pages(h) == []
    at(h, 13)
    assert pages(h) == [("trigger", "oncall")]


def test_after_an_outage_of_the_checkers_heartbeats_get_a_full_period_before_paging(h: Harness):
    beat(h)
    at(h, 1)
    jump(h, 20)  # nobody checked for 19 minutes (Redis or every worker down)
    assert pages(h) == []
    at(h, 22.9)
    assert pages(h) == []
    at(h, 23)
    assert pages(h) == [("trigger", "oncall")]


def test_a_heartbeat_removed_from_the_rules_stops_being_checked(h: Harness):
    beat(h)
    h.ctx.policy_source = lambda: policy()
    at(h, 10)
    assert pages(h) == []
    assert h.ctx.redis.zcard(store(h).due_key) == 0


def test_an_acknowledged_miss_stays_quiet_while_said_again_and_resolves_on_the_beat(h: Harness):
    beat(h)
    at(h, 3)
    assert h.ctx.store.acknowledge(KEY, "jane", "restarting prometheus", h.clock.now)
    h.run_due()
    at(h, 70)  # said again at 33 and 63 (half the 1h window): joins, pages nobody
    assert pages(h) == [("trigger", "oncall"), ("acknowledge", "oncall")]
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    assert incident.status == "acknowledged"
    assert incident.alert_count == 3
    beat(h)
    assert pages(h)[-1] == ("resolve", "oncall")


def test_a_miss_resolved_by_hand_while_still_quiet_opens_again_when_said_again(h: Harness):
    beat(h)
    at(h, 3)
    assert h.ctx.store.resolve(KEY, "jane", "", h.clock.now)
    h.run_due()
    at(h, 32.9)
    assert pages(h) == [("trigger", "oncall"), ("resolve", "oncall")]
    at(h, 33)  # the monitoring is still down: a new incident pages again
    assert pages(h) == [("trigger", "oncall"), ("resolve", "oncall"), ("trigger", "oncall")]
