"""Dry-run delivery: record each notification that would have gone out, send nothing.

With ALERTGW_DELIVERY=dry-run the workers run the whole incident machinery (dedupe,
escalation timing, retries) but every notification ends here: one log line and one
timeline entry, so rules can be tried in shadow mode next to the real paging tool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from core.rules.model import Target
from workers.notifiers.base import Notification, Receipt

if TYPE_CHECKING:
    from core.incidents.store import IncidentStore

log = logging.getLogger(__name__)


def describe(target: Target) -> str:
    """Where a target points, without its credential."""
    if target.pagerduty is not None:
        return "pagerduty"
    if target.slack is not None and target.slack.channel:
        return f"slack {target.slack.channel}"
    return "slack webhook"


class DryRunNotifier:
    """A Notifier for every target that records instead of sending."""

    channel: ClassVar[str] = "dry-run"

    def __init__(self, store: IncidentStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def handles(self, target: Target) -> bool:
        return True

    def send(self, notification: Notification) -> Receipt:
        incident, target = notification.incident, notification.target
        line = f"would send {notification.action} to {target.name} ({describe(target)})"
        if notification.text:
            line += f": {notification.text}"
        log.info("dry-run: %s", line, extra={"incident": incident.key, "target": target.name})
        self._store.note(incident.key, "dry_run", line, self._clock())
        return Receipt(channel=self.channel)
