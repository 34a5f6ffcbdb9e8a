"""Incidents, targets and notifications for the notifier tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from core.models import Link
from core.rules.model import PagerDutyTarget, SlackTarget, Target
from workers.notifiers.base import Action, IncidentView, Notification, ThreadRef

ROUTING_KEY = "R0UT1NGKEYc0ffee0123456789abcdef"
OPENED = datetime(2026, 3, 2, 10, 40, tzinfo=UTC)

ONCALL = Target("oncall", pagerduty=PagerDutyTarget(ROUTING_KEY))
INCIDENTS = Target("incidents", slack=SlackTarget(channel="#incidents"))


def webhook_target(url: str) -> Target:
    return Target("team-chat", slack=SlackTarget(webhook_url=url))


def incident(**changes: Any) -> IncidentView:
    base = IncidentView(
        key="checkout-down:service=checkout,environment=production",
        severity="SEV1",
        status="open",
        title="HighErrorRate",
        summary="5xx ratio above 5% for 10m",
        service="checkout",
        environment="production",
        source="alertmanager",
        rule="checkout-down",
        pagerduty_severity="critical",
        labels={"alertname": "HighErrorRate", "service": "checkout"},
        links=(Link(href="https://prometheus.example.com/graph", text="Prometheus"),),
        alert_count=2,
        opened_at=OPENED,
        version=3,
    )
    return dataclasses.replace(base, **changes)


def notify(
    target: Target,
    action: Action = "trigger",
    text: str = "",
    thread: ThreadRef | None = None,
    **changes: Any,
) -> Notification:
    return Notification(incident(**changes), action, target, text=text, thread=thread)


class FakeClock:
    def __init__(self, now: float = 1_772_446_800.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
