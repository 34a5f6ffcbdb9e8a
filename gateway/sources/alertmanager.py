"""Prometheus Alertmanager, webhook payload version 4.

Alertmanager cannot sign requests; it authenticates with
`http_config.authorization` (a bearer token, ALERTGW_ALERTMANAGER_TOKEN). One webhook
carries a group of alerts and re-sends all of them on every notification: each
`alerts[]` entry becomes one alert, keyed by Alertmanager's own fingerprint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.models import Alert, Level, Link, link
from core.settings import Settings
from gateway.exceptions import BadPayload
from gateway.sources.base import (
    Delivery,
    check_bearer,
    credentials,
    fingerprint_of,
    parse_json,
    validate,
)
from gateway.sources.kube_prometheus import workload_of

# `severity` label values seen in the wild, mapped to the canonical level. Anything
# else is a warning: loud enough to be classified, not enough to page by itself.
LEVELS: dict[str, Level] = {
    "critical": "critical",
    "page": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "error": "error",
    "high": "error",
    "major": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
}


Status = Literal["firing", "resolved"]


class AlertmanagerAlert(BaseModel):
    status: Status | None = None  # hand-trimmed samples leave it out: the group's then
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # Alertmanager spells its fields in camelCase
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerWebhook(BaseModel):
    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Status | None = None
    receiver: str = ""
    externalURL: str = ""
    alerts: list[AlertmanagerAlert]


class AlertmanagerSource:
    """`POST /webhooks/alertmanager`."""

    name: Literal["alertmanager"] = "alertmanager"

    def verify(self, delivery: Delivery, settings: Settings) -> None:
        secrets = credentials(settings, "alertmanager_token")
        if secrets is not None:
            check_bearer(delivery, secrets)

    def parse(self, delivery: Delivery) -> Any:
        return parse_json(delivery)

    def normalize(self, payload: Any, delivery: Delivery) -> list[Alert]:
        webhook = validate(AlertmanagerWebhook, payload)
        # the same for every alert of the group: built once, shared (Link is frozen)
        console = []
        if webhook.externalURL:
            console.append(link(webhook.externalURL, "Alertmanager"))
        alerts = []
        for index, (entry, raw) in enumerate(zip(webhook.alerts, payload["alerts"], strict=True)):
            status = entry.status or webhook.status
            if status is None:
                raise BadPayload(f"alerts.{index}.status: Field required (the group has none)")
            alerts.append(
                _alert(entry, status, raw, webhook.truncatedAlerts, console, delivery.received_at)
            )
        return alerts

    def delivery_id(self, payload: Any, delivery: Delivery) -> str | None:
        return None  # Alertmanager re-sends groups by design; dedupe happens per incident


def _alert(
    entry: AlertmanagerAlert,
    status: Status,
    raw: dict[str, Any],
    truncated: int,
    console: list[Link],
    received_at: datetime,
) -> Alert:
    labels = entry.labels
    if truncated:
        # the group had more alerts than max_alerts let through: say so where rules see it
        labels = {**labels, "truncated_alerts": str(truncated)}
    service = labels.get("service") or labels.get("app") or labels.get("job") or None
    if service and (workload := workload_of(labels, service)):
        service = workload.service
        labels = {**labels, "exporter": workload.exporter}
    annotations = entry.annotations
    title = annotations.get("summary") or labels.get("alertname") or "Alertmanager alert"
    return Alert(
        source="alertmanager",
        fingerprint=f"am:{entry.fingerprint or fingerprint_of(entry.labels)}",
        status=status,
        title=_one_line(title),
        summary=annotations.get("description", annotations.get("summary", "")),
        service=service,
        environment=labels.get("environment") or labels.get("env") or None,
        level=LEVELS.get(labels.get("severity", "").lower(), "warning"),
        labels=labels,
        links=_links(entry, console),
        starts_at=entry.startsAt,
        ends_at=_ends_at(entry, status),
        received_at=received_at,
        raw=raw,
    )


def _ends_at(entry: AlertmanagerAlert, status: Status) -> datetime | None:
    # firing alerts carry endsAt 0001-01-01, or Alertmanager's guess in the future
    if status == "resolved" and entry.endsAt and entry.endsAt.year > 1:
        return entry.endsAt
    return None


def _links(entry: AlertmanagerAlert, console: list[Link]) -> list[Link]:
    links = []
    if entry.generatorURL:
        links.append(link(entry.generatorURL, "Source"))
    if runbook := entry.annotations.get("runbook_url"):
        links.append(link(runbook, "Runbook"))
    return links + console


def _one_line(text: str) -> str:
    return " ".join(text.split())


SOURCE = AlertmanagerSource()
