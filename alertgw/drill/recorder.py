"""Where a drill's notifications end: recorded with their time and reason, never sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from core.rules.model import Target
from workers.notifiers.base import Notification, Receipt, ThreadRef
from workers.notifiers.dryrun import DryRunNotifier

if TYPE_CHECKING:
    from workers.context import Context


@dataclass(frozen=True)
class Sent:
    """One notification the workers handed to a notifier."""

    at: datetime
    target: str
    action: str
    incident: str
    rule: str
    severity: str
    text: str  # the reason the workers gave (step, raise, deferral...), may be empty


class Recorder:
    """A Notifier for every target: records, notes it in the incident's timeline as
    dry-run does, and gives Slack channels a thread so replies thread as they would."""

    channel: ClassVar[str] = "drill"

    def __init__(self, ctx: Context, clock: Callable[[], datetime]) -> None:
        self._ctx = ctx
        self._clock = clock
        self.sent: list[Sent] = []

    def handles(self, target: Target) -> bool:
        return True

    def send(self, notification: Notification) -> Receipt:
        incident = notification.incident
        self.sent.append(
            Sent(
                at=self._clock(),
                target=notification.target.name,
                action=notification.action,
                incident=incident.key,
                rule=incident.rule,
                severity=incident.severity,
                text=notification.text,
            )
        )
        DryRunNotifier(self._ctx.store, self._clock).send(notification)
        slack = notification.target.slack
        if notification.action == "trigger" and slack is not None and slack.channel:
            return Receipt(self.channel, ThreadRef(slack.channel, f"{len(self.sent)}.000"))
        return Receipt(self.channel)
