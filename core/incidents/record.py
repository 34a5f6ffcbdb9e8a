"""An incident as the store keeps it, and reading it back from its Redis hash."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from core.models import Link, Severity

IncidentStatus = Literal["open", "acknowledged", "resolved"]


@dataclass(frozen=True)
class Incident:
    """One incident as stored. `inc` names this incarnation (a key can reopen later)."""

    key: str
    inc: str
    version: int
    status: IncidentStatus
    severity: Severity
    rule: str
    escalation: str
    title: str
    summary: str
    service: str | None
    environment: str | None
    source: str
    labels: dict[str, str]
    links: tuple[Link, ...]
    opened_at: datetime
    received_at: datetime
    updated_at: datetime
    lead: str | None
    alert_count: int
    step: int
    reminder: int
    thread: tuple[str, str] | None
    resolved_at: datetime | None
    resolved_by: str | None
    step_at: datetime | None = None  # when `step` fired
    # quiet after which it is auto-resolved (None: never), counted from the last alert
    auto_resolve: timedelta | None = None
    last_alert_at: datetime | None = None
    update_status: str | None = None  # "<inc>|<status>" of the last posted status update

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and the CLI."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["links"] = [link.model_dump() for link in self.links]
        times = ("opened_at", "received_at", "updated_at", "resolved_at", "step_at")
        for name in (*times, "last_alert_at"):
            data[name] = data[name].isoformat() if data[name] else None
        quiet = self.auto_resolve
        data["auto_resolve_seconds"] = int(quiet.total_seconds()) if quiet else None
        data.pop("auto_resolve")
        data.pop("thread")
        # title, summary and labels are the latest alert's; this says since when it fires
        data["first_seen_at"] = data["received_at"]
        data.pop("update_status")
        return data


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an incident's history."""

    at: datetime
    kind: str
    text: str


def timeline_from(raw: Iterable[bytes | str]) -> list[TimelineEntry]:
    """Timeline entries from their stored JSON, oldest first."""
    entries = [json.loads(item) for item in raw]
    return [TimelineEntry(from_timestamp(e["at"]), e["kind"], e["text"]) for e in entries]


# Timeline times pass through Lua's JSON encoder (14 significant digits): an `opened`
# line may read a fraction of a millisecond off the record's `opened_at`.
_SAME_MOMENT = timedelta(milliseconds=5)


def since_opened(timeline: list[TimelineEntry], opened_at: datetime) -> list[TimelineEntry]:
    """The lines of the incarnation opened at `opened_at`, from its `opened` line: a
    key's timeline goes on across incarnations."""
    for index in range(len(timeline) - 1, -1, -1):
        entry = timeline[index]
        if entry.kind == "opened" and abs(entry.at - opened_at) < _SAME_MOMENT:
            return timeline[index:]
    return [e for e in timeline if e.at >= opened_at - _SAME_MOMENT]


def from_timestamp(value: bytes | str | float) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def _text(record: dict[str, str], name: str) -> str | None:
    return record.get(name) or None


def decoded(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def incident_from_hash(raw: Mapping[Any, Any]) -> Incident:
    r = {decoded(k): decoded(v) for k, v in raw.items()}
    thread = (r["thread_channel"], r["thread_ts"]) if r.get("thread_ts") else None
    return Incident(
        key=r["key"],
        inc=r["inc"],
        version=int(r["version"]),
        status=cast("IncidentStatus", r["status"]),
        severity=cast("Severity", r["severity"]),
        rule=r["rule"],
        escalation=r["escalation"],
        title=r["title"],
        summary=r["summary"],
        service=_text(r, "service"),
        environment=_text(r, "environment"),
        source=r["source"],
        labels=json.loads(r["labels"]),
        links=tuple(Link.model_validate(link) for link in json.loads(r["links"])),
        opened_at=from_timestamp(r["opened_at"]),
        received_at=from_timestamp(r["received_at"]),
        updated_at=from_timestamp(r["updated_at"]),
        lead=_text(r, "lead"),
        alert_count=int(r["alert_count"]),
        step=int(r["step"]),
        reminder=int(r["reminder"]),
        thread=thread,
        resolved_at=from_timestamp(r["resolved_at"]) if r.get("resolved_at") else None,
        resolved_by=_text(r, "resolved_by"),
        step_at=from_timestamp(r["step_at"]) if r.get("step_at") else None,
        auto_resolve=timedelta(seconds=float(r["auto_resolve"]))
        if float(r.get("auto_resolve") or 0) > 0
        else None,
        last_alert_at=from_timestamp(r["last_alert_at"]) if r.get("last_alert_at") else None,
        update_status=_text(r, "update_status"),
    )
