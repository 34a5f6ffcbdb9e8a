"""Sentry payloads to canonical alerts: one pure function per kind of webhook.

Issues and issue alerts share the fingerprint `sentry:issue:<issue id>`, so an issue
alert (or a legacy plugin alert) is resolved by the later `issue` `resolved` webhook of
the same issue; metric alerts are keyed `sentry:metric:<id>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.models import Alert, Level, Link, Status
from gateway.sources.sentry.payloads import (
    Event,
    EventAlertWebhook,
    IssueWebhook,
    LegacyWebhook,
    MetricAlertWebhook,
)

# Sentry's event levels (fatal, error, warning, info, debug) to the canonical ones.
LEVELS: dict[str, Level] = {
    "fatal": "critical",
    "critical": "critical",
    "error": "error",
    "warning": "warning",
    "info": "info",
    "debug": "info",
    "sample": "info",
}
# issue actions that are alert state changes; `assigned` is a person acting on the
# issue, not a signal about it, so it produces no alert (and no page).
ISSUE_STATUS: dict[str, Status] = {
    "created": "firing",
    "unresolved": "firing",
    "resolved": "resolved",
    # ignoring (the docs call it archiving) an issue closes its incident without a page
    "ignored": "resolved",
    "archived": "resolved",
}
METRIC_STATUS: dict[str, Status] = {
    "critical": "firing",
    "warning": "firing",
    "resolved": "resolved",
}
# The event URL names the project: /api/0/projects/<org>/<project slug>/events/<id>/
_PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/events/")


def issue_alerts(hook: IssueWebhook, raw: dict[str, Any], received_at: datetime) -> list[Alert]:
    """`issue`: created/unresolved fire, resolved resolves, ignored/archived resolve quietly."""
    status = ISSUE_STATUS.get(hook.action)
    if status is None:
        return []
    issue = hook.data.issue
    labels = _labels(project=issue.project.slug, resource="issue", action=hook.action)
    if issue.shortId:
        labels["short_id"] = issue.shortId
    summary = issue.culprit or str(issue.metadata.get("value") or "")
    alert = Alert(
        source="sentry",
        fingerprint=f"sentry:issue:{issue.id}",
        status=status,
        title=one_line(issue.title),
        summary=summary,
        service=issue.project.slug or None,
        environment=None,  # an issue spans environments; its webhook does not name one
        level=level_of(issue.level),
        labels=labels,
        links=_links((issue.web_url, "Sentry issue")),
        starts_at=utc(issue.firstSeen or received_at),
        ends_at=utc(received_at) if status == "resolved" else None,
        received_at=received_at,
        raw=raw,
    )
    return [alert]


def event_alerts(
    hook: EventAlertWebhook, raw: dict[str, Any], received_at: datetime
) -> list[Alert]:
    """`event_alert`: an issue alert rule fired; it always fires."""
    event = hook.data.event
    service = _project_from_url(event.url)
    extra = _labels(
        project=service, resource="event_alert", triggered_rule=hook.data.triggered_rule
    )
    links = _links((event.web_url, "Sentry event"))
    alert = _event_alert(event, event.issue_id, service, extra, event.level, links)
    return [alert(raw, received_at)]


def legacy_alerts(hook: LegacyWebhook, raw: dict[str, Any], received_at: datetime) -> list[Alert]:
    """The legacy WebHooks plugin: an issue alert rule fired; it always fires."""
    event = hook.event
    if not event.title or event.culprit is None:
        event = event.model_copy(
            update={"title": event.title or hook.message, "culprit": event.culprit or hook.culprit}
        )
    service = hook.project_slug or hook.project or None
    extra = _labels(
        project=service, resource="legacy", triggered_rule=", ".join(hook.triggering_rules)
    )
    links = _links((hook.url, "Sentry issue"))
    alert = _event_alert(event, hook.id, service, extra, hook.level or event.level, links)
    return [alert(raw, received_at)]


def metric_alerts(
    hook: MetricAlertWebhook, raw: dict[str, Any], received_at: datetime
) -> list[Alert]:
    """`metric_alert`: critical/warning fire, resolved resolves."""
    status = METRIC_STATUS.get(hook.action)
    if status is None:
        return []
    data = hook.data
    metric = data.metric_alert
    rule = metric.alert_rule
    projects = rule.projects or metric.projects
    service = projects[0] if projects else None
    labels = _labels(
        project=service,
        resource="metric_alert",
        action=hook.action,
        alert_rule=rule.name,
        aggregate=rule.aggregate,
        dataset=rule.dataset,
    )
    ends_at = (metric.date_closed or received_at) if status == "resolved" else None
    alert = Alert(
        source="sentry",
        fingerprint=f"sentry:metric:{metric.id}",
        status=status,
        title=one_line(metric.title or rule.name or data.description_title),
        summary=data.description_text,
        service=service,
        environment=rule.environment or None,
        level=_metric_level(hook),
        labels=labels,
        links=_links((data.web_url, "Sentry alert rule")),
        starts_at=utc(metric.date_started or metric.date_detected or received_at),
        ends_at=utc(ends_at) if ends_at else None,
        received_at=received_at,
        raw=raw,
    )
    return [alert]


def _event_alert(
    event: Event,
    issue_id: str,
    service: str | None,
    extra: dict[str, str],
    level: str,
    links: list[Link],
) -> Callable[[dict[str, Any], datetime], Alert]:
    """The alert of an issue alert rule firing, waiting for its raw body and arrival."""
    tags = {key: value for key, value in event.tags if key and value}
    # Sentry tags are the user's labels; our few own fields must not be shadowed by one
    labels = {**tags, **extra}
    title = event.title or event.message or f"Sentry issue {issue_id}"
    return lambda raw, received_at: Alert(
        source="sentry",
        fingerprint=f"sentry:issue:{issue_id}",
        status="firing",
        title=one_line(title),
        summary=event.culprit or "",
        service=service,
        environment=event.environment or tags.get("environment") or None,
        level=level_of(level or tags.get("level", "")),
        labels=labels,
        links=links,
        starts_at=utc(event.timestamp or event.datetime_ or received_at),
        ends_at=None,
        received_at=received_at,
        raw=raw,
    )


def _metric_level(hook: MetricAlertWebhook) -> Level:
    if hook.action == "warning":
        return "warning"
    if hook.action == "critical":
        return "critical"
    # A resolve carries no level of its own. It takes the highest the rule can reach, so
    # it matches the same classification rule as the alert it resolves; Sentry requires
    # a critical trigger on every metric alert rule, so that is nearly always critical.
    labels = {t.label for t in hook.data.metric_alert.alert_rule.triggers}
    return "warning" if labels == {"warning"} else "critical"


def level_of(level: str) -> Level:
    """Sentry's level name to the canonical level; unknown or missing is `error`."""
    return LEVELS.get(level.lower(), "error")


def _project_from_url(url: str) -> str | None:
    match = _PROJECT_IN_URL.search(url)
    return match.group(1) if match else None


def _labels(**fields: str | None) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value}


def _links(*candidates: tuple[str, str]) -> list[Link]:
    return [Link(href=href, text=text) for href, text in candidates if href]


def utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime; Sentry's naive timestamps are UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def one_line(text: str) -> str:
    return " ".join(text.split())
