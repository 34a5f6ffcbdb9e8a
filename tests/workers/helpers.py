"""Builders shared by the worker tests: a policy in Python, hand-off entries, a clock."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import redis

from core.handoff import HandoffEntry, stream_key
from core.incidents.record import Incident
from core.models import Alert, Level, Severity, Status
from core.rules.model import (
    Classification,
    Escalation,
    InhibitRule,
    PagerDutyTarget,
    Policy,
    Rule,
    SeverityPolicy,
    SlackTarget,
    Step,
    Target,
    TimeInterval,
)
from workers.notifiers.base import Notification, Receipt, RetryableError, ThreadRef

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@dataclass(frozen=True)
class Equal:
    """A label matcher `name="value"`, enough for inhibit rules in tests."""

    name: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get(self.name, "") == self.value


@dataclass(frozen=True)
class Hours:
    """A time interval: every day from `start` to `end` o'clock UTC."""

    start: int
    end: int

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment.astimezone(UTC).hour < self.end

    def next_start(self, moment: datetime) -> datetime | None:
        if self.contains(moment):
            return moment
        day = moment.astimezone(UTC).replace(hour=self.start, minute=0, second=0, microsecond=0)
        return day if day > moment else day + timedelta(days=1)


SEVERITY_TABLE = {
    "SEV1": SeverityPolicy("critical", timedelta(minutes=15)),
    "SEV2": SeverityPolicy("error", timedelta(minutes=30)),
    "SEV3": SeverityPolicy("warning"),
    "SEV4": SeverityPolicy("info"),
}


def policy(
    inhibit: tuple[InhibitRule, ...] = (),
    intervals: Mapping[str, TimeInterval] | None = None,
    repeat: int = 0,
    rules: tuple[Rule, ...] = (),
) -> Policy:
    """The SPEC's example policy, with routing keys, in Python."""
    targets = {
        "oncall": Target("oncall", pagerduty=PagerDutyTarget("rk-oncall")),
        "eng-lead": Target("eng-lead", pagerduty=PagerDutyTarget("rk-lead")),
        "cto": Target("cto", pagerduty=PagerDutyTarget("rk-cto")),
        "ceo": Target("ceo", pagerduty=PagerDutyTarget("rk-ceo")),
        "incidents": Target("incidents", slack=SlackTarget(channel="#incidents")),
        "unset": Target("unset", pagerduty=PagerDutyTarget("")),
    }
    standard = Escalation(
        "standard",
        (
            Step(("oncall", "incidents"), wait=timedelta(minutes=5)),
            Step(("eng-lead",), wait=timedelta(minutes=15)),
            Step(("cto",), wait=timedelta(minutes=30)),
            Step(("ceo",), severities=frozenset({"SEV1"})),
        ),
        repeat=repeat,
    )
    business = Escalation(
        "business",
        (
            Step(("incidents",), wait=timedelta(minutes=30)),
            Step(("oncall",), during="business-hours"),
        ),
    )
    chat = Escalation("chat-only", (Step(("incidents", "unset")),))
    return Policy(
        severities=SEVERITY_TABLE,  # type: ignore[arg-type]
        targets=targets,
        escalations={e.name: e for e in (standard, business, chat)},
        time_intervals=intervals or {"business-hours": Hours(9, 18)},
        rules=rules,
        default=Rule("default", (), "SEV3", "standard"),
        dedupe_window=timedelta(hours=1),
        inhibit=inhibit,
    )


def entry(
    fingerprint: str = "am:1",
    status: Status = "firing",
    severity: Severity = "SEV1",
    key: str = "checkout-down:service=checkout",
    escalation: str = "standard",
    received_at: datetime = T0,
    service: str = "checkout",
    rule: str = "checkout-down",
) -> HandoffEntry:
    firing = alert(fingerprint, status, received_at=received_at, service=service)
    decided = Classification(severity=severity, rule=rule, escalation=escalation, incident_key=key)
    return HandoffEntry(alert=firing, classification=decided)


def alert(
    fingerprint: str = "am:1",
    status: Status = "firing",
    level: Level = "critical",
    received_at: datetime = T0,
    service: str = "checkout",
    title: str = "HighErrorRate",
    summary: str = "5xx above 5%",
) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=fingerprint,
        status=status,
        title=title,
        summary=summary,
        service=service,
        environment="production",
        level=level,
        labels={"alertname": "HighErrorRate"},
        starts_at=received_at,
        received_at=received_at,
    )


def classified(rules: Policy, *alerts: Alert) -> list[HandoffEntry]:
    """Hand-off entries for alerts as the gateway makes them: one per matching rule."""
    entries = []
    for a in alerts:
        decided = rules.classify(a)
        keys = tuple(c.incident_key for c in decided)
        entries += [HandoffEntry(alert=a, classification=c, siblings=keys) for c in decided]
    return entries


def hand_off(client: redis.Redis, prefix: str, *entries: HandoffEntry) -> None:
    """Write entries to the intake streams as the gateway does."""
    for e in entries:
        client.xadd(stream_key(prefix, e.classification.severity), {"e": e.model_dump_json()})


@dataclass
class Recorder:
    """A Notifier that records what it was asked to send, and can be told to fail."""

    channel: ClassVar[str] = "pagerduty"
    sent: list[Notification] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handles(self, target: Target) -> bool:
        return target.pagerduty is not None

    def send(self, notification: Notification) -> Receipt:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append(notification)
        return Receipt(channel=self.channel)

    def actions(self) -> list[tuple[str, str]]:
        return [(n.action, n.target.name) for n in self.sent]


@dataclass
class SlackRecorder(Recorder):
    """Records Slack notifications and hands out a thread for the root message."""

    channel: ClassVar[str] = "slack"

    def handles(self, target: Target) -> bool:
        return target.slack is not None

    def send(self, notification: Notification) -> Receipt:
        super().send(notification)
        return Receipt(channel="slack", thread=ThreadRef("C1", f"{len(self.sent)}.000"))


def retryable(after: float | None = None) -> RetryableError:
    return RetryableError("HTTP 429", retry_after=after)


def incident(key: str = "k", severity: Severity = "SEV3", **labels: str) -> Incident:
    """A stored incident as the store would read it, for the pure functions."""
    return Incident(
        key=key,
        inc="1-0",
        version=1,
        status="open",
        severity=severity,
        rule="r",
        escalation="standard",
        title="t",
        summary="",
        service=None,
        environment=None,
        source="alertmanager",
        labels=labels,
        links=(),
        opened_at=T0,
        received_at=T0,
        updated_at=T0,
        lead=None,
        alert_count=1,
        step=-1,
        reminder=0,
        thread=None,
        resolved_at=None,
        resolved_by=None,
    )
