"""Datadog, through its Webhooks integration.

Datadog cannot sign requests; the webhook carries `Authorization: Bearer <token>` as a
custom header (ALERTGW_DATADOG_TOKEN). The body is Datadog's default payload or, better,
the template in docs/sources.md; with "Encode as form" the same fields arrive
form-encoded. Every value is a rendered `$VARIABLE`: a string, empty when Datadog has
nothing to put there, or left as the literal `$VARIABLE` when it does not know it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.models import Alert, Level, Link
from core.settings import Settings
from gateway.exceptions import BadPayload, UnsupportedMediaType
from gateway.sources.base import Delivery, check_bearer, credentials, decode_json, validate

FORM = "application/x-www-form-urlencoded"
RECOVERED = "recovered"
# $ALERT_PRIORITY first: it is the monitor's own, and stays the same on recovery
PRIORITY_LEVELS: dict[str, Level] = {
    "p1": "critical",
    "p2": "error",
    "p3": "warning",
    "p4": "info",
    "p5": "info",
}
# $ALERT_TYPE. Not `success`: a recovery says that whatever the alert was before it, and
# a recovery must keep its alert's level to land on the alert's rule.
TYPE_LEVELS: dict[str, Level] = {
    "error": "error",
    "warning": "warning",
    "info": "info",
}
TRANSITION_LEVELS: dict[str, Level] = {"warn": "warning", "no data": "warning"}
# A variable Datadog left unrendered: `$ALERT_CYCLE_KEY`, `$TAGS[service]`
_UNRENDERED = re.compile(r"^\$[A-Z][A-Z0-9_]*(\[[^\]]*\])?$")
# The monitor's id in the links of $EVENT_MSG: ".../monitors/1234?..." or ".../monitors#1234/edit"
_MONITOR_LINK = re.compile(r"/monitors[/#](?P<id>\d+)")
# $EVENT_TITLE: "[P2] [Triggered on {service:checkout,env:prod}] Checkout 5xx rate high"
_EVENT_TITLE = re.compile(
    r"^(?:\[(?P<priority>P\d)\]\s*)?"
    r"\[(?P<transition>[^\]{]+?)(?: on \{(?P<scope>[^}]*)\})?\]\s*(?P<name>.*)$"
)


def _rendered(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return "" if _UNRENDERED.match(value) else value
    return value


class DatadogModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    @field_validator("*", mode="before")
    @classmethod
    def _drop_unrendered(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or value == "":
            # a template's nested object (org) left empty is as good as absent
            return {} if info.field_name == "org" else ""
        return _rendered(value)


class Org(DatadogModel):
    id: str = ""
    name: str = ""


class DatadogWebhook(DatadogModel):
    """The recommended template's fields; the default payload is a subset of them."""

    id: str = ""
    alert_id: str = ""
    monitor_id: str = ""
    alert_cycle_key: str = ""
    aggreg_key: str = ""
    transition: str = ""
    alert_transition: str = ""  # $ALERT_TRANSITION, the name other templates use
    alert_type: str = ""
    priority: str = ""
    alert_priority: str = ""  # $ALERT_PRIORITY under its own name (ServiceNow-style template)
    title: str = ""
    alert_title: str = ""
    status: str = ""
    scope: str = ""
    event_type: str = ""
    tags: str = ""
    service: str = ""
    env: str = ""
    hostname: str = ""
    link: str = ""
    snapshot: str = ""
    date: str = ""
    last_updated: str = ""
    body: str = ""
    org: Org = Field(default_factory=Org)


class DatadogSource:
    """`POST /webhooks/datadog`."""

    name: Literal["datadog"] = "datadog"

    def verify(self, delivery: Delivery, settings: Settings) -> None:
        secrets = credentials(settings, "datadog_token")
        if secrets is not None:
            check_bearer(delivery, secrets)

    def parse(self, delivery: Delivery) -> Any:
        if delivery.content_type == FORM:
            return parse_form(delivery.body)
        if delivery.content_type == "application/json" or delivery.content_type.endswith("+json"):
            return decode_json(delivery.body)
        raise UnsupportedMediaType(f"expected Content-Type: application/json or {FORM}")

    def normalize(self, payload: Any, delivery: Delivery) -> list[Alert]:
        hook = validate(DatadogWebhook, payload)
        return [_alert(hook, payload, delivery.received_at)]

    def delivery_id(self, payload: Any, delivery: Delivery) -> str | None:
        # $ID is the id of the event this notification is: Datadog's retries of one
        # notification repeat it, a new notification (even a renotify) gets a new one.
        event_id = payload.get("id") if isinstance(payload, dict) else None
        rendered = _rendered(event_id) if isinstance(event_id, str | int) else ""
        return str(rendered) or None


def parse_form(body: bytes) -> dict[str, Any]:
    """The "Encode as form" body: one field per top-level template key.

    A nested object of the template (`org`) arrives as its JSON text; a body that is
    a single `payload` field holding the whole JSON is read as that JSON. Field values
    stay strings otherwise, so the model validates them the same way as JSON.
    """
    try:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("body is not valid form data") from None
    if list(fields) == ["payload"]:
        return _object(decode_json(fields["payload"].encode()), "payload")
    return {key: _maybe_object(value) for key, value in fields.items()}


def _maybe_object(value: str) -> Any:
    # only a nested template object is JSON; a title may start with "{" and not be
    if value.startswith("{"):
        with contextlib.suppress(BadPayload):
            return decode_json(value.encode())
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPayload(f"{where}: Input should be a valid dictionary")
    return value


class Title(NamedTuple):
    """What an event title says: "[P2] [Triggered on {env:prod}] Checkout 5xx rate high"."""

    priority: str
    transition: str
    scope: str
    name: str


def read_title(text: str) -> Title:
    """Split a $EVENT_TITLE / $ALERT_TITLE into its parts; a plain title is all name."""
    match = _EVENT_TITLE.match(text)
    if match is None:
        return Title("", "", "", text)
    parts = match.groupdict(default="")
    return Title(parts["priority"], parts["transition"], parts["scope"], parts["name"])


def _alert(hook: DatadogWebhook, raw: dict[str, Any], received_at: datetime) -> Alert:
    title = read_title(hook.alert_title or hook.title)
    # the template's own fields win over what the title says
    title = Title(
        hook.priority or hook.alert_priority or title.priority,
        hook.transition or hook.alert_transition or title.transition,
        hook.scope or title.scope,
        title.name,
    )
    labels = {**_tags(title.scope), **_tags(hook.tags), **_own_labels(hook, title)}
    resolved = title.transition.lower() == RECOVERED
    moment = _epoch(hook.date or hook.last_updated) or received_at
    return Alert(
        source="datadog",
        fingerprint=f"datadog:{_key(hook, title)}",
        status="resolved" if resolved else "firing",
        title=_one_line(title.name) or "Datadog alert",
        summary=hook.status or _message(hook.body),
        service=hook.service or labels.get("service") or None,
        environment=hook.env or labels.get("env") or labels.get("environment") or None,
        level=_level(hook, title),
        labels=labels,
        links=_links(hook),
        starts_at=moment,
        ends_at=moment if resolved else None,
        received_at=received_at,
        raw=raw,
    )


def _key(hook: DatadogWebhook, title: Title) -> str:
    if hook.alert_cycle_key:
        return hook.alert_cycle_key  # one trigger-to-recovery cycle of one monitor and scope
    if monitor := _monitor_id(hook):
        # a multi alert monitor alerts once per scope ({host:a}, {host:b}): one key each
        return f"{monitor}:{title.scope}"
    if hook.aggreg_key:
        return hook.aggreg_key
    if title.name:
        # The last resort: the monitor's name and scope from "[Triggered on {scope}] name".
        # Datadog may render a recovery's title shorter than its trigger's, which then
        # opens a second incident; the docs ask templates for $ALERT_ID for that reason.
        digest = hashlib.sha256(f"{title.name}\n{title.scope}".encode()).hexdigest()[:16]
        return f"title:{digest}"
    raise BadPayload(
        "body: no alert key; set alert_cycle_key, alert_id, monitor_id, aggreg_key or title"
    )


def _monitor_id(hook: DatadogWebhook) -> str:
    """$ALERT_ID under either name, else the monitor link in the default payload's message."""
    if hook.alert_id or hook.monitor_id:
        return hook.alert_id or hook.monitor_id
    match = _MONITOR_LINK.search(hook.body) or _MONITOR_LINK.search(hook.link)
    return match["id"] if match else ""


def _tags(text: str) -> dict[str, str]:
    """`env:prod,team:payments` to labels, split on the first `:`; bare tags are skipped."""
    labels: dict[str, str] = {}
    for tag in text.split(","):
        key, _, value = tag.strip().partition(":")
        key, value = key.strip(), value.strip()
        if key and value and not _UNRENDERED.match(value):
            # a key tagged twice (role:web,role:db) keeps both values
            labels[key] = f"{labels[key]},{value}" if key in labels else value
    return labels


def _own_labels(hook: DatadogWebhook, title: Title) -> dict[str, str]:
    fields = {
        "monitor_id": _monitor_id(hook),
        "transition": title.transition,
        "alert_type": hook.alert_type,
        "priority": title.priority.upper(),
        "event_type": hook.event_type,
        "hostname": hook.hostname,
        "org": hook.org.name,
    }
    return {name: value for name, value in fields.items() if value}


def _level(hook: DatadogWebhook, title: Title) -> Level:
    level = PRIORITY_LEVELS.get(title.priority.lower()) or TYPE_LEVELS.get(hook.alert_type.lower())
    return level or TRANSITION_LEVELS.get(title.transition.lower().removeprefix("re-"), "error")


def _links(hook: DatadogWebhook) -> list[Link]:
    links = [Link(href=hook.link, text="Datadog event")] if hook.link else []
    if hook.snapshot.startswith("https://"):
        links.append(Link(href=hook.snapshot, text="Graph"))
    return links


def _epoch(text: str) -> datetime | None:
    """$DATE and $LAST_UPDATED: epoch milliseconds, as a string."""
    if not text.isdigit() or len(text) > 16:
        return None
    try:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):  # past the year 9999
        return None


def _message(body: str) -> str:
    # $EVENT_MSG wraps the monitor message in %%% markdown fences
    return body.replace("%%%", "").strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


SOURCE = DatadogSource()
