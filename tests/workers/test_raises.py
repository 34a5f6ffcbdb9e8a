"""Raises as exact timelines: what PagerDuty and Slack receive, and at which virtual time.

The worker code runs in the test process on a real Redis with a virtual clock (the
harness of `tests/workers/conftest.py`) and the real notifiers, which talk HTTP to the
local fake vendors of `tests/fakes`. `Timeline` moves the clock from one scheduled job
to the next and stamps every request the fakes accepted with the virtual second it was
sent at, so each test asserts the exact notifications: a missing one and an unexpected
one both fail.

The rules are the ones of issue 13's defect 1: `warn` (SEV3, path `chat`: #incidents,
wait 1h, on-call), `err` (SEV2, path `standard`: on-call + #incidents, 5m, lead, 15m,
CTO) and `crit` (SEV1, path `page`: on-call + #incidents, wait 1h, lead), chosen by the
alert's level, so the same alert raises its incident when its level goes up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import redis
from rq.registry import ScheduledJobRegistry

from core.models import Level
from core.rules.model import (
    Escalation,
    PagerDutyTarget,
    Policy,
    Rule,
    SeverityPolicy,
    SlackTarget,
    Step,
    Target,
)
from tests.fakes.vendors import TEST_BOT_TOKEN, FakePagerDuty, FakeSlack
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, Equal, alert, classified, entry, hand_off
from workers.notifiers.pagerduty import PagerDutyNotifier
from workers.notifiers.slack import SlackNotifier

S, M, H = 1, 60, 3600
FP = "am:f"
ROUTING = {"rk-oncall": "oncall", "rk-lead": "lead", "rk-cto": "cto"}
PD_SEVERITY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning", "SEV4": "info"}
LEVEL_RULE = {"warning": "warn", "error": "err", "critical": "crit"}

Told = tuple[int, str, str, str]  # (virtual second, target, what, detail)


def raise_policy() -> Policy:
    targets = {
        "oncall": Target("oncall", pagerduty=PagerDutyTarget("rk-oncall")),
        "lead": Target("lead", pagerduty=PagerDutyTarget("rk-lead")),
        "cto": Target("cto", pagerduty=PagerDutyTarget("rk-cto")),
        "incidents": Target("incidents", slack=SlackTarget(channel="#incidents")),
    }
    paths = (
        Escalation("chat", (Step(("incidents",), wait=timedelta(hours=1)), Step(("oncall",)))),
        Escalation(
            "standard",
            (
                Step(("oncall", "incidents"), wait=timedelta(minutes=5)),
                Step(("lead",), wait=timedelta(minutes=15)),
                Step(("cto",)),
            ),
        ),
        Escalation(
            "page", (Step(("oncall", "incidents"), wait=timedelta(hours=1)), Step(("lead",)))
        ),
    )
    rules = (
        Rule("warn", (Equal("level", "warning"),), "SEV3", "chat"),
        Rule("err", (Equal("level", "error"),), "SEV2", "standard"),
        Rule("crit", (Equal("level", "critical"),), "SEV1", "page"),
    )
    # no status-update reminders: these timelines are about pages
    severities = {sev: SeverityPolicy(level) for sev, level in PD_SEVERITY.items()}
    return Policy(
        severities=severities,  # type: ignore[arg-type]
        targets=targets,
        escalations={e.name: e for e in paths},
        time_intervals={},
        rules=rules,
        default=Rule("default", (), "SEV4", "chat"),
    )


@dataclass
class Timeline:
    """Drives one test through virtual time and records what the fake vendors got."""

    h: Harness
    pagerduty: FakePagerDuty
    slack: FakeSlack
    told: list[Told] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=lambda: {"pd": 0, "slack": 0})

    @property
    def now(self) -> int:
        return int((self.h.clock.now - T0).total_seconds())

    def fire(self, at: int, level: Level, fingerprint: str = FP, **fields: str) -> None:
        """At `at`, the source sends the alert firing at `level`."""
        self.until(at)
        firing = alert(fingerprint, level=level, received_at=self.h.clock.now, **fields)
        hand_off(self.h.ctx.redis, self.h.ctx.prefix, *classified(self.h.ctx.policy, firing))
        self._run()

    def resolve(self, at: int, fingerprint: str = FP) -> None:
        self.until(at)
        done = alert(fingerprint, status="resolved", level="info", received_at=self.h.clock.now)
        hand_off(self.h.ctx.redis, self.h.ctx.prefix, *classified(self.h.ctx.policy, done))
        self._run()

    def ack(self, at: int, key: str, by: str = "alice") -> None:
        self.until(at)
        assert self.h.ctx.store.acknowledge(key, by, "", self.h.clock.now) is not None
        self._run()

    def unack(self, at: int, key: str, by: str = "pagerduty") -> None:
        self.until(at)
        assert self.h.ctx.store.unacknowledge(key, by, "", self.h.clock.now) is not None
        self._run()

    def until(self, at: int) -> None:
        """Run every scheduled job due before `at` at its own time, then move to `at`."""
        end = T0 + timedelta(seconds=at)
        assert end >= self.h.clock.now, "events go in time order"
        registry = ScheduledJobRegistry(queue=self.h.ctx.queue)
        while first := self.h.ctx.redis.zrange(registry.key, 0, 0, withscores=True):
            due = T0 + timedelta(seconds=first[0][1] - T0.timestamp())
            if due > end:
                break
            self.h.clock.now = max(self.h.clock.now, due)
            self._run()
        self.h.clock.now = end
        self._run()

    def since(self, at: int) -> list[Told]:
        """What was told from `at` on, sorted (one moment's requests in any order)."""
        return sorted(t for t in self.told if t[0] >= at)

    def _run(self) -> None:
        self.h.run_due()
        pd = self.pagerduty.requests[self._seen["pd"] :]
        chat = self.slack.requests[self._seen["slack"] :]
        self._seen["pd"] += len(pd)
        self._seen["slack"] += len(chat)
        self.told += [_pd(self.now, r.body) for r in pd if r.status == 202]
        self.told += [_slack(self.now, r.path, r.body) for r in chat if _ok(r.reply)]


def _pd(at: int, event: dict[str, Any]) -> Told:
    target = ROUTING[event["routing_key"]]
    action = event["event_action"]
    return (at, target, action, event["payload"]["severity"] if action == "trigger" else "")


def _slack(at: int, path: str, body: dict[str, Any]) -> Told:
    text = str(body.get("text", ""))
    if path.endswith("chat.update"):
        return (at, "incidents", "edit", _root_state(text))
    if body.get("thread_ts"):
        return (at, "incidents", "reply", text)
    return (at, "incidents", "post", _root_state(text))


def _root_state(text: str) -> str:
    """`SEV1 Investigating` from the INCIDENT DETECTED message's lines."""
    severity = re.search(r"Severity: (SEV\d)", text)
    status = re.search(r"Status: (\w+)", text)
    assert severity, text
    assert status, text
    return f"{severity[1]} {status[1]}"


def _ok(reply: Any) -> bool:
    return isinstance(reply, dict) and bool(reply.get("ok"))


@pytest.fixture
def timeline(redis_client: redis.Redis, key_prefix: str) -> Iterator[Timeline]:
    with FakePagerDuty() as pagerduty, FakeSlack() as slack:
        notifiers = [
            PagerDutyNotifier(pagerduty.events_url, redis_client, key_prefix),
            SlackNotifier(slack.api_url, TEST_BOT_TOKEN),
        ]
        h = make_harness(redis_client, key_prefix, raise_policy(), notifiers=notifiers)
        try:
            yield Timeline(h, pagerduty, slack)
        finally:
            _forget_jobs(h)
            notifiers[0].close()


# -- defect 1: a raise pages the new path's earlier targets at once ------------------------


def test_warning_then_critical_2s_later_pages_on_call_at_once(timeline: Timeline):
    timeline.fire(0, "warning")
    timeline.fire(2 * S, "critical")
    timeline.fire(10 * M, "critical")  # the source repeats it: joins, says nothing
    timeline.until(5 * H)
    assert timeline.since(0) == [
        (0, "incidents", "post", "SEV3 Investigating"),
        (2, "incidents", "edit", "SEV1 Investigating"),
        (2, "incidents", "reply", "Escalated to oncall (step 1 of 2)"),
        (2, "incidents", "reply", "Severity raised to SEV1"),
        (2, "oncall", "trigger", "critical"),
        # the SEV1 path's step 2 an hour after its step 1; the SEV3 path's own step 2
        # (on-call at 1h) is stale and pages nobody
        (H + 2, "incidents", "reply", "Escalated to lead (step 2 of 2)"),
        (H + 2, "lead", "trigger", "critical"),
    ]
    page = timeline.pagerduty.events(action="trigger")[0]
    assert page["dedup_key"] == "warn:am:f"  # the incident keeps its key
    assert page["payload"]["summary"] == "[SEV1] checkout: HighErrorRate"


def test_a_raise_at_a_later_step_pages_the_rest_and_tells_the_paged_the_new_severity(
    timeline: Timeline,
):
    timeline.fire(0, "warning")
    timeline.fire(H + 30 * M, "critical")  # the SEV3 path paged on-call at 1h
    timeline.until(5 * H)
    assert timeline.since(0) == [
        (0, "incidents", "post", "SEV3 Investigating"),
        (H, "incidents", "reply", "Escalated to oncall (step 2 of 2)"),
        (H, "oncall", "trigger", "warning"),
        # SEV1 would have paged on-call and #incidents at 0 and the lead at 1h: on-call
        # gets the new severity on its page, the lead is paged now
        (H + 30 * M, "incidents", "edit", "SEV1 Investigating"),
        (H + 30 * M, "incidents", "reply", "Escalated to lead (step 2 of 2)"),
        (H + 30 * M, "incidents", "reply", "Severity raised to SEV1"),
        (H + 30 * M, "lead", "trigger", "critical"),
        (H + 30 * M, "oncall", "trigger", "critical"),
    ]


def test_a_raise_behind_the_old_path_pages_nobody_new_and_keeps_the_new_path_timing(
    timeline: Timeline,
):
    timeline.fire(0, "error")  # SEV2: on-call at 0, the lead at 5m
    timeline.fire(6 * M, "critical")  # SEV1's path has only on-call by now
    timeline.until(5 * H)
    assert timeline.since(6 * M) == [
        (6 * M, "incidents", "edit", "SEV1 Investigating"),
        (6 * M, "incidents", "reply", "Severity raised to SEV1"),
        (6 * M, "lead", "trigger", "critical"),
        (6 * M, "oncall", "trigger", "critical"),
        # the SEV1 path's lead step at 1h finds the lead paged: nobody new, no CTO
        # (the SEV2 path's step 3 at 20m is stale)
    ]


def test_raised_twice_sev3_sev2_sev1(timeline: Timeline):
    timeline.fire(0, "warning")
    timeline.fire(1 * M, "error")
    timeline.fire(2 * M, "critical")
    timeline.until(5 * H)
    assert timeline.since(0) == [
        (0, "incidents", "post", "SEV3 Investigating"),
        (M, "incidents", "edit", "SEV2 Investigating"),
        (M, "incidents", "reply", "Escalated to oncall (step 1 of 3)"),
        (M, "incidents", "reply", "Severity raised to SEV2"),
        (M, "oncall", "trigger", "error"),
        (2 * M, "incidents", "edit", "SEV1 Investigating"),
        (2 * M, "incidents", "reply", "Severity raised to SEV1"),
        (2 * M, "oncall", "trigger", "critical"),
        # SEV2's lead at 6m and CTO at 21m are stale; SEV1's lead at 1h (from opening)
        (H, "incidents", "reply", "Escalated to lead (step 2 of 2)"),
        (H, "lead", "trigger", "critical"),
    ]
    incident = timeline.h.ctx.store.get("warn:am:f")
    assert incident is not None
    assert (incident.severity, incident.rule, incident.escalation) == ("SEV1", "crit", "page")
    raised = [e.text for e in timeline.h.ctx.store.timeline("warn:am:f") if "->" in e.text]
    assert raised == ["SEV3 -> SEV2 (am:f, rule err)", "SEV2 -> SEV1 (am:f, rule crit)"]


# -- acknowledged, then raised ---------------------------------------------------------


def test_an_acknowledged_incident_raised_stays_acknowledged_and_pages_nobody(
    timeline: Timeline,
):
    key = "warn:am:f"
    timeline.fire(0, "warning")
    timeline.ack(H + 10 * M, key)  # after on-call was paged at 1h
    timeline.fire(H + 20 * M, "critical")
    timeline.until(5 * H)
    assert timeline.since(H + 10 * M) == [
        (H + 10 * M, "incidents", "edit", "SEV3 Acknowledged"),
        (H + 10 * M, "incidents", "reply", "Acknowledged by alice"),
        (H + 10 * M, "oncall", "acknowledge", ""),
        (H + 20 * M, "incidents", "edit", "SEV1 Acknowledged"),
        (
            H + 20 * M,
            "incidents",
            "reply",
            "Severity raised to SEV1 while acknowledged by alice: nobody paged",
        ),
    ]
    incident = timeline.h.ctx.store.get(key)
    assert incident is not None
    assert (incident.status, incident.severity, incident.lead) == ("acknowledged", "SEV1", "alice")
    kinds = [(e.kind, e.text) for e in timeline.h.ctx.store.timeline(key)]
    said = "SEV3 -> SEV1 (am:f, rule crit): acknowledged by alice, nobody paged"
    assert ("severity_raised", said) in kinds

    # PagerDuty's acknowledgement times out: escalation resumes on the SEV1 path after
    # the targets already told (on-call, #incidents): the lead, whose step was due at 2h
    timeline.unack(5 * H, key)
    timeline.until(8 * H)
    assert timeline.since(5 * H) == [
        (5 * H, "incidents", "reply", "Escalated to lead (step 2 of 2)"),
        (5 * H, "incidents", "reply", "Unacknowledged by pagerduty: escalation resumes"),
        (5 * H, "lead", "trigger", "critical"),
    ]


def test_a_raise_before_step_one_fired_acknowledged_then_unacknowledged(timeline: Timeline):
    key = "warn:am:f"
    timeline.fire(0, "warning")
    timeline.ack(30 * S, key)
    timeline.fire(M, "critical")
    timeline.unack(2 * M, key)  # nobody was paged: the SEV1 path starts with on-call now
    timeline.until(3 * H)
    assert timeline.since(2 * M) == [
        (2 * M, "incidents", "reply", "Escalated to oncall (step 1 of 2)"),
        (2 * M, "incidents", "reply", "Unacknowledged by pagerduty: escalation resumes"),
        (2 * M, "oncall", "trigger", "critical"),
        (H + 2 * M, "incidents", "reply", "Escalated to lead (step 2 of 2)"),
        (H + 2 * M, "lead", "trigger", "critical"),
    ]


# -- silenced -------------------------------------------------------------------------


def test_a_raise_during_a_silence_pages_when_the_silence_ends(timeline: Timeline):
    timeline.fire(0, "warning")
    timeline.until(30 * S)
    matchers = ['service="checkout"']
    now = timeline.h.clock.now
    timeline.h.ctx.silences.create(matchers, now, now + timedelta(hours=2), "deploy", "jane", now)
    timeline.fire(M, "critical")
    timeline.until(5 * H)
    assert timeline.since(M) == [
        (M, "incidents", "edit", "SEV1 Investigating"),
        (M, "incidents", "reply", "Severity raised to SEV1"),
        # the page the raise owes on-call is a step: it waits for the silence to end
        (2 * H + 30 * S, "incidents", "reply", "Escalated to oncall (step 1 of 2)"),
        (2 * H + 30 * S, "oncall", "trigger", "critical"),
        (3 * H + 30 * S, "incidents", "reply", "Escalated to lead (step 2 of 2)"),
        (3 * H + 30 * S, "lead", "trigger", "critical"),
    ]


# -- severity is never lowered ---------------------------------------------------------


def test_a_less_severe_alert_joins_and_changes_nothing(timeline: Timeline):
    timeline.fire(0, "critical", summary="checkout 5xx above 50%")
    timeline.fire(10 * S, "warning", summary="checkout 5xx above 1%")
    timeline.until(2 * H)
    assert timeline.since(0) == [
        (0, "incidents", "post", "SEV1 Investigating"),
        (0, "oncall", "trigger", "critical"),
        (H, "incidents", "reply", "Escalated to lead (step 2 of 2)"),
        (H, "lead", "trigger", "critical"),
    ]
    incident = timeline.h.ctx.store.get("crit:am:f")
    assert incident is not None
    assert (incident.severity, incident.alert_count) == ("SEV1", 2)
    assert incident.labels["level"] == "critical"
    assert incident.summary == "checkout 5xx above 50%"


# -- defect 3: the record shows the alert that last changed it --------------------------


def test_the_record_shows_the_raising_alert_then_the_latest_firing(timeline: Timeline):
    timeline.fire(0, "warning", title="Checkout slow", summary="p99 above 1s")
    timeline.fire(2 * S, "critical", title="Checkout down", summary="5xx above 50%")
    incident = timeline.h.ctx.store.get("warn:am:f")
    assert incident is not None
    assert (incident.title, incident.summary) == ("Checkout down", "5xx above 50%")
    assert (incident.labels["level"], incident.labels["title"]) == ("critical", "Checkout down")
    assert incident.received_at == T0  # first seen: the first alert, kept
    timeline.fire(10 * M, "critical", title="Checkout down", summary="5xx above 80%")
    latest = timeline.h.ctx.store.get("warn:am:f")
    assert latest is not None
    assert (latest.summary, latest.alert_count, latest.received_at) == ("5xx above 80%", 3, T0)


# -- every pair of paths, at any step, before and after an acknowledgement ----------------

PAIRS = [("warning", "error"), ("warning", "critical"), ("error", "critical")]
MOMENTS = [2 * S, 10 * M, 30 * M, H + 30 * M, 3 * H]


@pytest.mark.parametrize("acknowledged", [False, True], ids=["open", "acked"])
@pytest.mark.parametrize("at", MOMENTS, ids=[f"{m}s" for m in MOMENTS])
@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{o}-{n}" for o, n in PAIRS])
def test_every_raise_pages_whoever_the_new_path_had_paged_by_then(
    timeline: Timeline, old: Level, new: Level, at: int, acknowledged: bool
):
    """The oracle, from the rules alone: at the raise, every PagerDuty target paged
    before it and every one the new path pages within `at` of opening gets one trigger
    with the new severity, and nobody else is paged; an acknowledged incident: nobody."""
    key = f"{LEVEL_RULE[old]}:am:f"
    timeline.fire(0, old)
    if acknowledged:
        timeline.ack(at - 1, key)
    timeline.fire(at, new)
    paged_before = {t[1] for t in timeline.told if t[2] == "trigger"}
    policy = timeline.h.ctx.policy
    rule = next(r for r in policy.rules if r.name == LEVEL_RULE[new])
    plan = policy.escalations[rule.escalation].plan(rule.severity)
    due = {name for s in plan if s.after <= timedelta(seconds=at) for name in s.notify}
    pages = {name for name in due | paged_before if name in ROUTING.values()}
    expected = [] if acknowledged else [(at, name, "trigger", new) for name in sorted(pages)]
    told_then = [t for t in timeline.since(at) if t[1] != "incidents"]
    assert told_then == expected
    incident = timeline.h.ctx.store.get(key)
    assert incident is not None
    assert incident.severity == rule.severity
    assert incident.status == ("acknowledged" if acknowledged else "open")


# -- a `during` step the raise reaches outside its interval --------------------------------


def test_a_raise_onto_a_business_hours_step_at_night_defers_that_page(
    redis_client: redis.Redis, key_prefix: str
):
    # the SPEC's example policy: `business` pages on-call after 30m, in business hours
    h = make_harness(redis_client, key_prefix)
    key = "noise:am:1"
    h.clock.now = T0.replace(hour=17, minute=50)
    hand_off(h.ctx.redis, h.ctx.prefix, entry(key=key, severity="SEV4", escalation="chat-only"))
    h.run_due()
    h.clock.now = T0.replace(hour=18, minute=30)
    raising = entry(fingerprint="am:2", key=key, severity="SEV3", escalation="business")
    hand_off(h.ctx.redis, h.ctx.prefix, raising)
    h.run_due()
    assert h.pagerduty.actions() == []
    assert [(n.action, n.text) for n in h.slack.sent[1:]] == [
        ("severity_raised", "Severity raised to SEV3"),
        ("note", "Page to oncall deferred until 2026-03-03 09:00 UTC (outside business-hours)"),
    ]
    h.clock.now = T0.replace(day=3, hour=9)
    h.run_due()
    assert h.pagerduty.actions() == [("trigger", "oncall")]
    assert h.pagerduty.sent[0].incident.severity == "SEV3"
    _forget_jobs(h)
