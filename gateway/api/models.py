"""The API's request and response bodies, as pydantic models (also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from core.heartbeats import State as HeartbeatState
from core.models import Link, Severity
from core.silences import State

IncidentStatus = Literal["open", "acknowledged", "resolved"]


class Operation(BaseModel):
    """Body of `POST /incidents/{key}/ack` and `/resolve`; the body itself is optional."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="api", min_length=1, max_length=200, description="who acts")
    note: str = Field(default="", max_length=4000, description="shown in the timeline")


class NoteIn(BaseModel):
    """Body of `POST /incidents/{key}/notes`."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="api", min_length=1, max_length=200)
    note: str = Field(min_length=1, max_length=4000)


class SilenceIn(BaseModel):
    """Body of `POST /silences`: matchers, and `duration` or `ends_at` (RFC 3339)."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[str] = Field(
        min_length=1, description='Alertmanager matchers, e.g. service="checkout"'
    )
    duration: str | None = Field(default=None, description="30m, 2h, 1d; from starts_at")
    starts_at: AwareDatetime | None = Field(default=None, description="default: now")
    ends_at: AwareDatetime | None = None
    comment: str = Field(min_length=1, max_length=4000)
    created_by: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_end(self) -> SilenceIn:
        if (self.duration is None) == (self.ends_at is None):
            raise ValueError("give exactly one of duration and ends_at")
        return self


class SilenceOut(BaseModel):
    """A silence as the API shows it."""

    id: str
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    state: State


class IncidentOut(BaseModel):
    """An incident as the API shows it: its current state.

    Title, summary, labels, service, environment and links are those of the alert that
    last changed it (the raise, or the latest firing at its severity); `first_seen_at`
    is when alertgw received its first alert.
    """

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
    links: list[Link]
    opened_at: datetime
    received_at: datetime
    first_seen_at: datetime = Field(description="when alertgw received the first alert")
    updated_at: datetime
    lead: str | None
    alert_count: int
    step: int
    step_at: datetime | None = None  # when `step` fired
    resolved_at: datetime | None
    resolved_by: str | None
    last_alert_at: datetime | None = Field(default=None, description="when an alert last came")
    auto_resolve_seconds: int | None = Field(
        default=None, description="resolved after this much quiet; null: never"
    )


class TimelineEntryOut(BaseModel):
    at: datetime
    kind: str
    text: str


class AlertStateOut(BaseModel):
    fingerprint: str
    status: Literal["firing", "resolved"]


class IncidentDetail(IncidentOut):
    """One incident with its history and the state of each of its alerts."""

    timeline: list[TimelineEntryOut]
    alerts: list[AlertStateOut]


class IncidentList(BaseModel):
    """A page of incidents: most severe first, then newest."""

    incidents: list[IncidentOut]
    total: int = Field(description="how many incidents match, on every page together")
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null on the last page"
    )


class SilenceList(BaseModel):
    silences: list[SilenceOut]


class ErrorOut(BaseModel):
    error: str


class HeartbeatOut(BaseModel):
    """One heartbeat as `GET /api/v1/heartbeats` lists it."""

    name: str
    state: HeartbeatState
    severity: Severity
    period: str
    grace: str
    last_beat: datetime | None
    next_deadline: datetime | None
    missed_since: datetime | None
    paused_at: datetime | None
    paused_by: str | None


class HeartbeatList(BaseModel):
    heartbeats: list[HeartbeatOut]


class PauseIn(BaseModel):
    """Body of `POST /api/v1/heartbeats/{name}/pause`; the body itself is optional."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="api", min_length=1, max_length=200, description="who pauses")


class PostmortemIn(BaseModel):
    """Body of `POST /incidents/{key}/postmortem`: mark it done with the document's link."""

    model_config = ConfigDict(extra="forbid")

    done: Literal[True] = Field(description="the written postmortem exists")
    url: str = Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://\S+$",
        description="link to the written postmortem (http or https)",
    )
    by: str = Field(default="api", min_length=1, max_length=200, description="who marks it")
    inc: str | None = Field(
        default=None, max_length=40, description="which incarnation (default: the latest)"
    )


class PostmortemOut(BaseModel):
    """A postmortem's state: due after resolve; done once linked to the written document."""

    key: str
    inc: str
    severity: Severity
    resolved_at: datetime
    due_at: datetime
    done: bool
    overdue: bool
    done_at: datetime | None
    done_by: str | None
    url: str | None
    draft: str = Field(description="path of the Markdown draft")


class StatusUpdateIn(BaseModel):
    """Body of `POST /incidents/{key}/updates`: where it stands, in the plan's words."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["Investigating", "Mitigating", "Monitoring"]
    text: str = Field(min_length=1, max_length=2000, description="what was done, what is next")
    by: str = Field(default="api", min_length=1, max_length=200)
