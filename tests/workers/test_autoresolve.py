"""Long incidents as timelines: alerts at virtual times in, the exact pages out.

The real PagerDuty and Slack notifiers talk to the recording fakes; the workers' jobs
run in-process on a virtual clock (no sleeping). Nothing open or acknowledged is ever
forgotten: it ends when resolved, or auto-resolved after `auto_resolve` of quiet, and
an auto-resolve sends resolve to every PagerDuty target paged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import redis
from prometheus_client import REGISTRY
from rq.registry import ScheduledJobRegistry

from core.models import SEVERITIES
from core.rules.model import AutoResolve, Policy
from tests.fakes.vendors import FakePagerDuty, FakeSlack, fake_pagerduty, fake_slack
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.e2e import eventually
from tests.workers.helpers import T0, entry, hand_off, policy
from workers import jobs
from workers.incidents import autoresolve
from workers.notifiers import close_notifiers

__all__ = ["fake_pagerduty", "fake_slack"]  # fixtures

KEY = "checkout-down:service=checkout"
TARGETS = {"rk-oncall": "oncall", "rk-lead": "eng-lead", "rk-cto": "cto", "rk-ceo": "ceo"}
HOUR = timedelta(hours=1)
Page = tuple[timedelta, str, str]  # (when, target, action)


def quiet_after(rules: Policy, after: timedelta | None) -> Policy:
    """`rules` with `dedupe.auto_resolve: <after>` (None: unset, as for Alertmanager)."""
    return replace(rules, auto_resolve=(AutoResolve((), after),) if after else ())


class Drill:
    """A worker on a virtual clock, the fakes' requests read as a timeline of pages."""

    def __init__(self, harness: Harness, pd: FakePagerDuty, slack: FakeSlack) -> None:
        self.h, self.pd, self.slack = harness, pd, slack
        self.pages: set[Page] = set()
        self._seen = 0

    @property
    def now(self) -> datetime:
        return self.h.clock.now

    def fire(self, at: timedelta, status: str = "firing") -> None:
        self.run_until(at)
        hand_off(self.h.ctx.redis, self.h.ctx.prefix, entry(status=status))  # type: ignore[arg-type]
        self._run()

    def ack(self, at: timedelta, by: str = "jane") -> None:
        self.run_until(at)
        assert self.h.ctx.store.acknowledge(KEY, by, "", self.now) is not None
        self._run()

    def run_until(self, at: timedelta) -> None:
        """Run every job due up to T0 + `at`, each at the time it was due."""
        registry = ScheduledJobRegistry(queue=self.h.ctx.queue)
        end = T0 + at
        while True:
            first = self.h.ctx.redis.zrange(registry.key, 0, 0, withscores=True)
            if not first or first[0][1] > end.timestamp():
                break
            self.h.clock.now = max(self.now, datetime.fromtimestamp(first[0][1], T0.tzinfo))
            self._run()
        self.h.clock.now = max(self.now, end)
        self._run()

    def thread_replies(self) -> list[str]:
        return [m["text"] for m in self.slack.messages() if m.get("thread_ts")]

    def _run(self) -> None:
        # a job's change reaches the outbox after the dispatcher looked: look again
        while self.h.run_due():
            pass
        events = self.pd.events()
        for event in events[self._seen :]:
            when = self.now - T0
            self.pages.add((when, TARGETS[event["routing_key"]], event["event_action"]))
        self._seen = len(events)


@pytest.fixture
def make_drill(
    redis_client: redis.Redis,
    key_prefix: str,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
) -> Iterator[object]:
    made: list[Harness] = []

    def make(rules: Policy) -> Drill:
        h = make_harness(redis_client, key_prefix, rules, vendors=(fake_pagerduty, fake_slack))
        made.append(h)
        return Drill(h, fake_pagerduty, fake_slack)

    yield make
    for h in made:
        close_notifiers(h.ctx.notifiers)
        _forget_jobs(h)


def auto_resolved() -> float:
    labels = {"severity": "SEV1"}
    return REGISTRY.get_sample_value("alertgw_incidents_auto_resolved_total", labels) or 0.0


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# acknowledged incidents are not forgotten -------------------------------------------------


def test_acknowledged_then_quiet_past_the_window_then_firing_again_pages_nobody(make_drill):
    drill = make_drill(quiet_after(policy(), None))  # Alertmanager: no auto_resolve
    drill.fire(minutes(0))
    drill.ack(minutes(2))
    drill.run_until(minutes(8 * 60))  # 8 h of quiet: eight dedupe windows
    store = drill.h.ctx.store
    assert [i.key for i in store.list(now=drill.now)] == [KEY]  # still listed
    assert drill.h.ctx.redis.ttl(store.key_of(KEY)) == -1  # and never expires while live
    drill.fire(minutes(8 * 60))
    drill.run_until(minutes(9 * 60))
    assert drill.pages == {(minutes(0), "oncall", "trigger"), (minutes(2), "oncall", "acknowledge")}
    incident = drill.h.ctx.store.get(KEY)
    assert incident is not None
    assert (incident.status, incident.lead, incident.alert_count) == ("acknowledged", "jane", 2)
    assert len(drill.slack.roots()) == 1  # the same incident, never announced again


def test_a_long_acknowledged_sev1_repeated_every_4h_for_a_day_pages_once(make_drill):
    drill = make_drill(quiet_after(policy(), None))
    drill.fire(minutes(0))
    drill.ack(minutes(3))
    for hour in range(4, 25, 4):  # Alertmanager's repeat_interval
        drill.fire(timedelta(hours=hour))
    drill.run_until(timedelta(hours=25))
    assert drill.pages == {(minutes(0), "oncall", "trigger"), (minutes(3), "oncall", "acknowledge")}
    incident = drill.h.ctx.store.get(KEY)
    assert incident is not None
    assert (incident.status, incident.alert_count, incident.step) == ("acknowledged", 7, 0)


# auto-resolve -----------------------------------------------------------------------------


def test_auto_resolve_sends_resolve_to_every_target_paged(make_drill):
    drill = make_drill(quiet_after(policy(), HOUR))
    before = auto_resolved()
    drill.fire(minutes(0))  # nobody acknowledges: the SEV1 path runs to the CEO
    drill.run_until(minutes(70))
    assert auto_resolved() == before + 1
    resolved = {p for p in drill.pages if p[2] == "resolve"}
    assert drill.pages - resolved == {
        (minutes(0), "oncall", "trigger"),
        (minutes(5), "eng-lead", "trigger"),
        (minutes(20), "cto", "trigger"),
        (minutes(50), "ceo", "trigger"),
    }
    assert {target for _, target, _ in resolved} == {"oncall", "eng-lead", "cto", "ceo"}
    assert len(resolved) == 4
    assert {when for when, _, _ in resolved} <= {
        minutes(60) + timedelta(seconds=s) for s in range(11)
    }
    assert "Auto-resolved: no alert for 1h" in drill.thread_replies()
    incident = drill.h.ctx.store.get(KEY)
    assert incident is not None
    assert (incident.status, incident.resolved_by) == ("resolved", "auto-resolve")
    timeline = [(t.kind, t.text) for t in drill.h.ctx.store.timeline(KEY)]
    assert ("resolved", "Auto-resolved: no alert for 1h") in timeline


def test_every_alert_moves_the_auto_resolve_of_an_acknowledged_incident(make_drill):
    drill = make_drill(quiet_after(policy(), HOUR))
    drill.fire(minutes(0))
    drill.ack(minutes(2))
    drill.fire(minutes(30))  # quiet from here: due at 1h30
    drill.run_until(minutes(89))
    assert drill.h.ctx.store.get(KEY).status == "acknowledged"  # type: ignore[union-attr]
    drill.run_until(minutes(120))
    resolves = [p for p in drill.pages if p[2] == "resolve"]
    assert [(target, action) for _, target, action in resolves] == [("oncall", "resolve")]
    assert minutes(90) <= resolves[0][0] <= minutes(90) + timedelta(seconds=10)
    assert drill.pages - set(resolves) == {
        (minutes(0), "oncall", "trigger"),
        (minutes(2), "oncall", "acknowledge"),
    }


def test_firing_after_an_auto_resolve_opens_a_new_incident_and_pages(make_drill):
    drill = make_drill(quiet_after(policy(), HOUR))
    drill.fire(minutes(0))
    drill.ack(minutes(1))
    drill.run_until(minutes(65))  # auto-resolved at 1h
    first = drill.h.ctx.store.get(KEY)
    drill.fire(minutes(70))  # inside the dedupe window, but the incident was resolved
    drill.run_until(minutes(71))
    assert {(t, a) for w, t, a in drill.pages if w >= minutes(70)} == {("oncall", "trigger")}
    again = drill.h.ctx.store.get(KEY)
    assert first is not None
    assert again is not None
    assert (again.status, again.alert_count) == ("open", 1)
    assert again.inc != first.inc  # a new incarnation, the same PagerDuty dedup_key
    assert len(drill.slack.roots()) == 2


@pytest.mark.parametrize("first", ["source", "auto-resolve"])
def test_a_source_resolve_racing_the_auto_resolve_resolves_once(make_drill, first: str):
    drill = make_drill(quiet_after(policy(), HOUR))
    drill.fire(minutes(0))
    drill.run_until(minutes(59))
    drill.h.clock.now = T0 + HOUR
    resolve = entry(status="resolved")
    if first == "source":
        hand_off(drill.h.ctx.redis, drill.h.ctx.prefix, resolve)
        drill.run_until(minutes(61))  # the sweep due at 1h finds it resolved
    else:
        drill.run_until(minutes(61))
        hand_off(drill.h.ctx.redis, drill.h.ctx.prefix, resolve)  # finds it resolved
        drill.run_until(minutes(62))
    resolved = sorted(t for _, t, a in drill.pages if a == "resolve")
    assert resolved == ["ceo", "cto", "eng-lead", "oncall"]  # once each
    kinds = [t.kind for t in drill.h.ctx.store.timeline(KEY)]
    assert kinds.count("resolved") == 1
    expected = "source" if first == "source" else "auto-resolve"
    assert drill.h.ctx.store.get(KEY).resolved_by == expected  # type: ignore[union-attr]


def test_auto_resolve_survives_a_worker_restart(make_drill):
    drill = make_drill(quiet_after(policy(), HOUR))
    drill.fire(minutes(0))
    drill.ack(minutes(1))
    # the worker dies and its scheduled jobs are lost: only Redis's data is left
    _forget_jobs(drill.h)
    assert drill.h.scheduled() == []
    restarted = make_drill(quiet_after(policy(), HOUR))
    restarted.pages, restarted._seen = drill.pages, drill._seen
    restarted.h.clock.now = drill.now
    autoresolve.keep_sweeping(restarted.h.ctx)  # what the refresher does every 5 s
    restarted.run_until(minutes(61))
    assert {(t, a) for _, t, a in restarted.pages if a == "resolve"} == {("oncall", "resolve")}


def test_a_rule_without_auto_resolve_keeps_its_incident_open(make_drill):
    drill = make_drill(quiet_after(policy(), None))
    drill.fire(minutes(0))
    drill.ack(minutes(1))
    drill.run_until(timedelta(days=3))
    assert drill.h.ctx.store.get(KEY).status == "acknowledged"  # type: ignore[union-attr]
    assert drill.h.ctx.redis.zcard(drill.h.ctx.store.autoresolve_key) == 0
    assert [n for _, n, _ in drill.h.scheduled() if n == "auto_resolve_due"] == []
    assert {a for _, _, a in drill.pages} == {"trigger", "acknowledge"}


def test_the_sweep_job_is_named_in_jobs():
    assert jobs.JOBS["auto_resolve_due"] is autoresolve.auto_resolve_due


# memory stays bounded -------------------------------------------------------------------

# keys shared by every incident (indexes, streams, queues), not one incident's
SHARED = ("incidents", "open:", "autoresolve", "reminders", "changes", "intake:", "notify")


@pytest.mark.parametrize("how", ["source", "api", "auto-resolve"])
def test_no_key_of_a_resolved_incident_is_left_after_the_window(make_drill, how: str):
    # a dedupe window of 2 real seconds: Redis expires keys on its own clock
    drill = make_drill(replace(quiet_after(policy(), HOUR), dedupe_window=timedelta(seconds=2)))
    drill.fire(minutes(0))
    drill.ack(minutes(1))
    if how == "source":
        drill.fire(minutes(2), status="resolved")
    elif how == "api":
        drill.run_until(minutes(2))
        assert drill.h.ctx.store.resolve(KEY, "jane", "", drill.now) is not None
    drill.run_until(minutes(65))
    client, prefix = drill.h.ctx.redis, drill.h.ctx.prefix
    assert drill.h.ctx.store.get(KEY).status == "resolved"  # type: ignore[union-attr]

    def own_keys() -> list[str]:
        names = [k.decode() for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        return [n for n in names if not n.removeprefix(prefix).startswith(SHARED)]

    # every key left has an expiry (delivery markers keep theirs a day longer)
    assert all(client.ttl(name) > 0 for name in own_keys())
    eventually(lambda: not [n for n in own_keys() if KEY in n or "am:1" in n], timeout=30)
    assert client.zscore(drill.h.ctx.store.index_key, KEY) is not None  # until next pruned
    assert drill.h.ctx.store.list(now=drill.now + timedelta(seconds=3)) == []
    assert client.zscore(drill.h.ctx.store.autoresolve_key, KEY) is None
    assert not any(client.zscore(drill.h.ctx.store.open_key(s), KEY) for s in SEVERITIES)
