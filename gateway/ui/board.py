"""The incident board's rows: filters from the URL, SEV-first order, escalation progress.

Pure: the incidents, the rules in force and the time are passed in, so the board is
tested (and benchmarked) without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import SEVERITIES
from core.rules.model import Policy
from gateway.api.models import IncidentOut

STATUSES = ("live", "open", "acknowledged", "resolved", "all")
LIVE = ("open", "acknowledged")


@dataclass(frozen=True)
class Filters:
    """What the board shows; each field is a URL query parameter, so a link shares a view."""

    severity: str = ""
    status: str = "live"
    service: str = ""
    source: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Read the filters; an unknown severity or status falls back to showing all."""
        severity = query.get("severity", "")
        status = query.get("status", "live")
        return cls(
            severity=severity if severity in SEVERITIES else "",
            status=status if status in STATUSES else "live",
            service=query.get("service", "").strip()[:200],
            source=query.get("source", "").strip()[:200],
            q=query.get("q", "").strip()[:200],
        )

    def as_query(self) -> dict[str, str]:
        """The non-default filters, for links and for the board's own refresh."""
        values = {
            "severity": self.severity,
            "service": self.service,
            "source": self.source,
            "q": self.q,
        }
        if self.status != "live":
            values["status"] = self.status
        return {name: value for name, value in values.items() if value}

    def keeps(self, incident: IncidentOut) -> bool:
        if self.status == "live" and incident.status not in LIVE:
            return False
        if self.status not in ("live", "all") and incident.status != self.status:
            return False
        if self.severity and incident.severity != self.severity:
            return False
        if self.service and (incident.service or "") != self.service:
            return False
        if self.source and incident.source != self.source:
            return False
        return not self.q or self.q.lower() in _haystack(incident)


@dataclass(frozen=True)
class Progress:
    """Where an incident's escalation stands: 'step 2 of 4' and when the next is due."""

    step: int  # 1-based; 0 before the first step fired
    total: int
    notify: tuple[str, ...]
    next_notify: tuple[str, ...]
    next_due: datetime | None  # None: nothing more will fire (last step, acked, resolved)


@dataclass(frozen=True)
class Row:
    incident: IncidentOut
    age: timedelta
    progress: Progress


def rows(
    incidents: Iterable[IncidentOut], filters: Filters, policy: Policy, now: datetime
) -> list[Row]:
    """The board: filtered, most severe first, then newest."""
    kept = [i for i in incidents if filters.keeps(i)]
    kept.sort(key=lambda i: i.opened_at, reverse=True)
    kept.sort(key=lambda i: SEVERITIES.index(i.severity))  # stable: newest within a SEV
    return [Row(i, now - i.opened_at, progress(i, policy)) for i in kept]


def progress(incident: IncidentOut, policy: Policy) -> Progress:
    """The incident's step on its current path, and the next step's due time.

    The next step is due its predecessor's wait after the current step fired, while the
    incident is open; an acknowledged or resolved incident has nothing due.
    """
    path = policy.escalations.get(incident.escalation)
    plan = path.plan(incident.severity) if path else []
    index = min(incident.step, len(plan) - 1)  # -1: the first step has not fired yet
    upcoming = plan[index + 1] if index + 1 < len(plan) else None
    due = None
    if upcoming is not None and index >= 0 and incident.status == "open" and incident.step_at:
        due = incident.step_at + (upcoming.after - plan[index].after)
    return Progress(
        step=index + 1,
        total=len(plan),
        notify=plan[index].notify if index >= 0 else (),
        next_notify=upcoming.notify if upcoming and incident.status == "open" else (),
        next_due=due,
    )


def choices(incidents: Iterable[IncidentOut]) -> dict[str, list[str]]:
    """The services and sources seen, for the filter drop-downs."""
    services, sources = set(), set()
    for incident in incidents:
        if incident.service:
            services.add(incident.service)
        sources.add(incident.source)
    return {"services": sorted(services), "sources": sorted(sources)}


def _haystack(incident: IncidentOut) -> str:
    parts = [incident.key, incident.title, incident.summary, incident.lead or ""]
    parts += incident.labels.values()
    return " ".join(parts).lower()
