"""Sentry: every webhook kind normalized field by field, and both ways of authenticating."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.models import Alert
from gateway.exceptions import BadPayload, Unauthorized
from gateway.sources.sentry import SOURCE
from tests.sources.deliveries import RECEIVED, delivery, fixture, settings, sign

SECRET = "sentry-client-secret-1"
ISSUE_URL = "https://acme.sentry.io/issues/1170820242/"
RULE_URL = "https://acme.sentry.io/organizations/acme/alerts/rules/details/7/"
EVENT_URL = "https://acme.sentry.io/issues/1170820242/events/e4874d664c3540c1a32eab185f12c5ab/"


def normalize(name: str, resource: str | None) -> list[Alert]:
    body, _ = fixture("sentry", name)
    sent = delivery(body, {"Sentry-Hook-Resource": resource} if resource else {})
    return SOURCE.normalize(SOURCE.parse(sent), sent)


def only(name: str, resource: str | None) -> tuple[Alert, Any]:
    alerts = normalize(name, resource)
    assert len(alerts) == 1
    return alerts[0], fixture("sentry", name)[1]


def fields(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(exclude={"raw", "received_at"})


def issue_fields(action: str, status: str, level: str, ends_at: datetime | None) -> dict[str, Any]:
    return {
        "source": "sentry",
        "fingerprint": "sentry:issue:1170820242",
        "status": status,
        "title": "TimeoutError: payments upstream timed out",
        "summary": "app.payments.charge",
        "service": "checkout-api",
        "environment": None,
        "level": level,
        "labels": {
            "project": "checkout-api",
            "resource": "issue",
            "action": action,
            "short_id": "CHECKOUT-API-9",
            "source": "sentry",
            "status": status,
            "title": "TimeoutError: payments upstream timed out",
            "service": "checkout-api",
            "level": level,
        },
        "links": [{"href": ISSUE_URL, "text": "Sentry issue"}],
        "starts_at": datetime(2026, 3, 2, 10, 11, 4, tzinfo=UTC),
        "ends_at": ends_at,
    }


@pytest.mark.parametrize(
    ("name", "action", "status", "level"),
    [
        ("issue_created.json", "created", "firing", "error"),
        ("issue_unresolved.json", "unresolved", "firing", "critical"),  # level fatal
        ("issue_resolved.json", "resolved", "resolved", "error"),
        ("issue_ignored.json", "ignored", "resolved", "error"),
        ("issue_archived.json", "archived", "resolved", "error"),
    ],
)
def test_issue_actions(name: str, action: str, status: str, level: str) -> None:
    alert, raw = only(name, "issue")
    ends_at = RECEIVED if status == "resolved" else None
    assert fields(alert) == issue_fields(action, status, level, ends_at)
    assert alert.raw == raw
    assert alert.received_at == RECEIVED


def test_issue_assigned_is_not_an_alert() -> None:
    assert normalize("issue_assigned.json", "issue") == []


@pytest.mark.parametrize(
    ("name", "resource"),
    [("installation_created.json", "installation"), ("comment_created.json", "comment")],
)
def test_resources_that_are_not_alerts_give_none(name: str, resource: str) -> None:
    assert normalize(name, resource) == []
    assert normalize(name, None) == []  # also when the resource is inferred


def test_event_alert() -> None:
    alert, raw = only("event_alert.json", "event_alert")
    title = "TimeoutError: payments upstream timed out"
    assert fields(alert) == {
        "source": "sentry",
        "fingerprint": "sentry:issue:1170820242",
        "status": "firing",
        "title": title,
        "summary": "app.payments.charge",
        "service": "checkout-api",
        "environment": "production",
        "level": "error",
        "labels": {
            "environment": "production",
            "level": "error",
            "release": "checkout-api@2.14.0",
            "server_name": "web-7f9c",
            "region": "eu-west-1",
            "project": "checkout-api",
            "resource": "event_alert",
            "triggered_rule": "Checkout errors > 50/min",
            "source": "sentry",
            "status": "firing",
            "title": title,
            "service": "checkout-api",
        },
        "links": [{"href": EVENT_URL, "text": "Sentry event"}],
        "starts_at": datetime(2026, 3, 2, 10, 22, 19, 120000, tzinfo=UTC),
        "ends_at": None,
    }
    assert alert.raw == raw


def metric_fields(action: str, status: str, level: str, text: str) -> dict[str, Any]:
    return {
        "source": "sentry",
        "fingerprint": "sentry:metric:4",
        "status": status,
        "title": "Checkout p95 latency",
        "summary": text,
        "service": "checkout-api",
        "environment": "production",
        "level": level,
        "labels": {
            "project": "checkout-api",
            "resource": "metric_alert",
            "action": action,
            "alert_rule": "Checkout p95 latency",
            "aggregate": "p95(transaction.duration)",
            "dataset": "transactions",
            "source": "sentry",
            "status": status,
            "title": "Checkout p95 latency",
            "service": "checkout-api",
            "environment": "production",
            "level": level,
        },
        "links": [{"href": RULE_URL, "text": "Sentry alert rule"}],
        "starts_at": datetime(2026, 3, 2, 10, 40, tzinfo=UTC),
        "ends_at": datetime(2026, 3, 2, 11, 5, tzinfo=UTC) if status == "resolved" else None,
    }


@pytest.mark.parametrize(
    ("name", "action", "status", "level", "text"),
    [
        ("metric_alert_critical.json", "critical", "firing", "critical", "1512ms"),
        ("metric_alert_warning.json", "warning", "firing", "warning", "1104ms"),
        # a resolve takes the rule's highest level, so it classifies like what it resolves
        ("metric_alert_resolved.json", "resolved", "resolved", "critical", "640ms"),
    ],
)
def test_metric_alerts(name: str, action: str, status: str, level: str, text: str) -> None:
    alert, raw = only(name, "metric_alert")
    summary = f"{text} p95(transaction.duration) in the last 5 minutes"
    assert fields(alert) == metric_fields(action, status, level, summary)
    assert alert.raw == raw


def test_legacy_plugin() -> None:
    alert, raw = only("legacy_plugin.json", None)
    title = "TimeoutError: payments upstream timed out"
    assert fields(alert) == {
        "source": "sentry",
        "fingerprint": "sentry:issue:1170820242",  # resolved by the issue webhook
        "status": "firing",
        "title": title,
        "summary": "app.payments.charge",
        "service": "checkout-api",
        "environment": "production",
        "level": "error",
        "labels": {
            "environment": "production",
            "level": "error",
            "browser": "Chrome 124",
            "project": "checkout-api",
            "resource": "legacy",
            "triggered_rule": "Checkout errors",
            "source": "sentry",
            "status": "firing",
            "title": title,
            "service": "checkout-api",
        },
        "links": [{"href": f"{ISSUE_URL}?referrer=webhooks_plugin", "text": "Sentry issue"}],
        "starts_at": datetime(2026, 3, 2, 10, 22, 19, 120000, tzinfo=UTC),
        "ends_at": None,
    }
    assert alert.raw == raw


@pytest.mark.parametrize(
    ("name", "resource"),
    [
        ("issue_created.json", "issue"),
        ("event_alert.json", "event_alert"),
        ("metric_alert_critical.json", "metric_alert"),
    ],
)
def test_resource_is_inferred_without_the_header(name: str, resource: str) -> None:
    # `alertgw rules test` may run a saved body without its headers
    assert normalize(name, None) == normalize(name, resource)


@pytest.mark.parametrize(
    ("resource", "body", "field"),
    [
        ("issue", {"action": "created", "data": {}}, "data.issue"),
        ("issue", {"action": "created", "data": {"issue": {"title": "x"}}}, "data.issue.id"),
        ("metric_alert", {"action": "critical", "data": {"metric_alert": {}}}, "metric_alert.id"),
        ("event_alert", {"action": "triggered", "data": {"event": []}}, "data.event"),
        ("event_alert", {"data": {"event": {"title": "x"}}}, "data.event.issue_id"),
        ("event_alert", {"data": {"event": {"issue_id": 1, "tags": [["a"]]}}}, "tags.0"),
        (None, {"project_slug": "x"}, "id"),
        (None, ["not", "an", "object"], "body"),
    ],
)
def test_wrongly_shaped_bodies_name_the_field(resource: str | None, body: Any, field: str) -> None:
    headers = {"Sentry-Hook-Resource": resource} if resource else {}
    with pytest.raises(BadPayload, match=field.replace(".", r"\.")):
        SOURCE.normalize(body, delivery(b"", headers))


def test_signed_webhook_is_verified_over_the_raw_body() -> None:
    body, _ = fixture("sentry", "issue_created.json")
    config = settings(sentry_client_secret=f"old-secret, {SECRET}")
    good = {"Sentry-Hook-Resource": "issue", "Sentry-Hook-Signature": sign(SECRET, body)}
    SOURCE.verify(delivery(body, good), config)
    for bad in (body + b" ", body.replace(b"created", b"resolved")):
        with pytest.raises(Unauthorized):
            SOURCE.verify(delivery(bad, good), config)
    with pytest.raises(Unauthorized):
        SOURCE.verify(delivery(body, {"Sentry-Hook-Resource": "issue"}), config)


def test_signed_webhook_cannot_use_the_legacy_token() -> None:
    body, _ = fixture("sentry", "issue_created.json")
    config = settings(sentry_client_secret=SECRET, sentry_legacy_token="tok")
    headers = {"Sentry-Hook-Resource": "issue"}
    with pytest.raises(Unauthorized):
        SOURCE.verify(delivery(body, headers, query={"token": "tok"}), config)


def test_legacy_plugin_authenticates_with_the_token() -> None:
    body, _ = fixture("sentry", "legacy_plugin.json")
    config = settings(sentry_client_secret=SECRET, sentry_legacy_token="old,new-token")
    SOURCE.verify(delivery(body, query={"token": "new-token"}), config)
    for query in ({"token": "wrong"}, {}):
        with pytest.raises(Unauthorized, match="invalid or missing credentials"):
            SOURCE.verify(delivery(body, query=query), config)


def test_unset_secret_refuses_and_names_the_variable() -> None:
    body, _ = fixture("sentry", "legacy_plugin.json")
    with pytest.raises(Unauthorized, match="ALERTGW_SENTRY_LEGACY_TOKEN"):
        SOURCE.verify(delivery(body, query={"token": "x"}), settings())
    with pytest.raises(Unauthorized, match="ALERTGW_SENTRY_CLIENT_SECRET"):
        SOURCE.verify(delivery(body, {"Sentry-Hook-Signature": "ab"}), settings())
    SOURCE.verify(delivery(body), settings(allow_unsigned=True))


def test_no_delivery_id() -> None:
    body, parsed = fixture("sentry", "issue_created.json")
    assert SOURCE.delivery_id(parsed, delivery(body)) is None
