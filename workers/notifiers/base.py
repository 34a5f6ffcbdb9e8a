"""What a notifier is: one module per vendor behind this Protocol.

The incident machinery decides *what* to say and to *whom* (a `Notification`); a notifier
only says it to its vendor, and tells the caller whether a failure is worth retrying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, Literal, Protocol

from core.incidents.record import IncidentStatus
from core.models import Link, Severity
from core.rules.model import Target

Action = Literal[
    "trigger",  # the incident is new for this target: page / post the root message
    "escalate",  # a later escalation step reached this target (pages it; Slack: thread reply)
    "acknowledge",  # someone acknowledged: PagerDuty acknowledge; Slack: edit root + reply
    "resolve",  # resolved: PagerDuty resolve; Slack: edit root + reply
    "severity_raised",  # upgraded in place (e.g. SEV3 -> SEV1)
    "status_update_due",  # SEV1/SEV2 reminder in the Slack thread
    "status_update",  # a posted status update: Slack edits the root's Status + replies
    "postmortem_due",  # postmortem draft and deadline reminders in the Slack thread
    "note",  # free text for the thread (deferred page, joined alerts, operator note)
    "refresh",  # the incident changed (a storm's counts): Slack edits the root only
]


@dataclass(frozen=True)
class IncidentView:
    """What a notifier may know of an incident (a snapshot, never the raw payload)."""

    key: str  # also the PagerDuty dedup_key
    severity: Severity
    status: IncidentStatus
    title: str
    summary: str
    service: str | None
    environment: str | None
    source: str
    rule: str
    pagerduty_severity: str  # from the policy's severity table
    labels: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    lead: str | None = None  # who acknowledged, if anyone
    alert_count: int = 1
    opened_at: datetime | None = None
    received_at: datetime | None = None  # when the first alert arrived (latency metric)
    version: int = 0  # the incident's fencing version: Slack block ids change with it
    posted_status: str | None = None  # Mitigating, Monitoring...: the last update posted


@dataclass(frozen=True)
class ThreadRef:
    """Where a Slack root message lives, so updates can thread under it and edit it."""

    channel: str
    ts: str


@dataclass(frozen=True)
class Notification:
    """One message to one target about one incident."""

    incident: IncidentView
    action: Action
    target: Target
    text: str = ""  # human line for thread replies ("Escalated to eng-lead, step 2")
    thread: ThreadRef | None = None  # Slack root message, once one was posted


@dataclass(frozen=True)
class Receipt:
    """What the vendor gave back that later notifications need."""

    channel: str
    thread: ThreadRef | None = None  # set when a Slack root message was posted
    sent: bool = True  # False: the action is not one this vendor takes (nothing was sent)


class NotifierError(Exception):
    """A notification was not delivered. Never carries a secret in its message."""


class RetryableError(NotifierError):
    """Worth retrying later (429, 5xx, timeout, connection error); honours `retry_after`."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Metered(RetryableError):
    """Not sent yet: alertgw's own meter for the vendor's limit has no slot for it now.

    Not a failure: it waits its turn (`retry_after`) and costs no attempt."""


class PermanentError(NotifierError):
    """Retrying cannot help (a 4xx other than 429): dead-letter it."""


class Notifier(Protocol):
    """Delivers notifications to one vendor."""

    channel: ClassVar[str]  # "pagerduty" | "slack"

    def handles(self, target: Target) -> bool:
        """Whether this notifier delivers to `target`."""

    def send(self, notification: Notification) -> Receipt:
        """Deliver, or raise RetryableError / PermanentError."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)
