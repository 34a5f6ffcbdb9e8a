"""The canonical alert: what every source normalizes into and every later stage reads."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# `heartbeat`: the alerts alertgw writes itself when a heartbeat is missed (core.heartbeats)
SourceName = Literal["sentry", "alertmanager", "datadog", "vercel", "heartbeat"]
Status = Literal["firing", "resolved"]
Level = Literal["critical", "error", "warning", "info"]
Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]

SEVERITIES: tuple[Severity, ...] = ("SEV1", "SEV2", "SEV3", "SEV4")

# Fields that are also written into `labels`, so rule matchers can use them. They win
# over a source label of the same name: a matcher on `status` must mean our status.
RESERVED_LABELS = ("source", "status", "title", "service", "environment", "level")


class Link(BaseModel):
    """A link shown with the alert: the source's page, a runbook, a graph."""

    model_config = ConfigDict(frozen=True)

    href: str
    text: str = ""


@functools.lru_cache(maxsize=4096)
def link(href: str, text: str) -> Link:
    """A Link, shared: the same runbook or graph comes with every alert of a rule, and
    a frozen Link is safe to share (one validation instead of one per alert)."""
    return Link(href=href, text=text)


class Alert(BaseModel):
    """One alert from one source, normalized. `raw` is kept for the record, never logged."""

    model_config = ConfigDict(frozen=True)

    source: SourceName
    fingerprint: str = Field(min_length=1)
    status: Status
    title: str
    summary: str = ""
    service: str | None = None
    environment: str | None = None
    level: Level
    labels: dict[str, str] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    starts_at: datetime
    ends_at: datetime | None = None
    received_at: datetime
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    def model_post_init(self, context: Any, /) -> None:
        # Sources pass only their own labels; the canonical fields are added here once,
        # so no source can forget one or spell it differently. Validation built
        # `self.labels` as a new dict for this alert, so it is edited in place: the
        # caller's dict stays as it was (a test holds this). A post-init hook, not an
        # after-validator: pydantic runs those again each time an Alert is passed into
        # another model (a hand-off entry), and this runs once per new Alert.
        labels = self.labels
        for name in RESERVED_LABELS:
            if value := getattr(self, name):
                labels[name] = value
            else:
                labels.pop(name, None)
