"""The shapes Sentry posts, as pydantic models: lenient where Sentry is.

Unknown fields are ignored (Sentry adds fields often); ids arrive as strings or numbers
and are read as strings; only what normalization needs is required, so a body that is
missing it is a 400 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SentryModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class Project(SentryModel):
    id: str = ""
    slug: str = ""
    name: str = ""


class Issue(SentryModel):
    id: str = Field(min_length=1)
    shortId: str = ""  # Sentry spells its fields in camelCase here
    title: str
    culprit: str | None = None
    level: str = "error"
    status: str = ""
    substatus: str | None = None
    project: Project = Field(default_factory=Project)
    firstSeen: datetime | None = None
    lastSeen: datetime | None = None
    web_url: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class IssueData(SentryModel):
    issue: Issue


class IssueWebhook(SentryModel):
    """`Sentry-Hook-Resource: issue`."""

    action: str
    data: IssueData


class Event(SentryModel):
    """A Sentry error event, as embedded in issue alerts and the legacy plugin body."""

    event_id: str = ""
    issue_id: str = ""
    title: str = ""
    message: str = ""
    culprit: str | None = None
    level: str = ""
    environment: str | None = None
    timestamp: datetime | None = None  # epoch seconds (a float) or ISO 8601
    datetime_: datetime | None = Field(default=None, alias="datetime")
    tags: list[tuple[str, str]] = Field(default_factory=list)
    url: str = ""
    web_url: str = ""

    @field_validator("tags", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        # tags come as [key, value] pairs, in some serializers as {"key", "value"} objects
        if isinstance(value, list):
            return [(t.get("key"), t.get("value")) if isinstance(t, dict) else t for t in value]
        return value


class AlertEvent(Event):
    """The event of an issue alert: its issue id is what a later resolve refers to."""

    issue_id: str = Field(min_length=1)


class EventAlertData(SentryModel):
    triggered_rule: str = ""
    event: AlertEvent


class EventAlertWebhook(SentryModel):
    """`Sentry-Hook-Resource: event_alert`: an issue alert rule fired."""

    action: str = "triggered"
    data: EventAlertData


class Trigger(SentryModel):
    label: str = ""


class AlertRule(SentryModel):
    id: str = ""
    name: str = ""
    aggregate: str = ""
    dataset: str = ""
    query: str = ""
    environment: str | None = None
    projects: list[str] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)


class MetricAlert(SentryModel):
    id: str = Field(min_length=1)
    identifier: str = ""
    title: str = ""
    projects: list[str] = Field(default_factory=list)
    date_started: datetime | None = None
    date_detected: datetime | None = None
    date_closed: datetime | None = None
    alert_rule: AlertRule = Field(default_factory=AlertRule)


class MetricAlertData(SentryModel):
    description_title: str = ""
    description_text: str = ""
    web_url: str = ""
    metric_alert: MetricAlert


class MetricAlertWebhook(SentryModel):
    """`Sentry-Hook-Resource: metric_alert`: a metric alert changed state."""

    action: str
    data: MetricAlertData


class LegacyWebhook(SentryModel):
    """The legacy WebHooks plugin body: sent when an issue alert rule fires."""

    id: str = Field(min_length=1)
    project: str = ""
    project_name: str = ""
    project_slug: str = ""
    level: str = ""
    culprit: str | None = None
    message: str = ""
    url: str = ""
    triggering_rules: list[str] = Field(default_factory=list)
    event: Event = Field(default_factory=Event)
