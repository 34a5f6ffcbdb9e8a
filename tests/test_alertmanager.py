"""The Alertmanager source: webhook v4 payloads normalized into canonical alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from starlette.datastructures import Headers

from core.settings import Settings
from gateway.exceptions import BadPayload, Unauthorized, UnsupportedMediaType
from gateway.sources.alertmanager import SOURCE
from gateway.sources.base import Delivery
from tests.conftest import payload

RECEIVED = datetime(2026, 3, 2, 10, 41, 2, tzinfo=UTC)


def delivery(body: bytes, **headers: str) -> Delivery:
    headers.setdefault("content-type", "application/json")
    return Delivery(body=body, headers=Headers(headers), query={}, received_at=RECEIVED)


def normalize(name: str) -> list:  # type: ignore[type-arg]
    d = delivery(payload("alertmanager", name))
    return SOURCE.normalize(SOURCE.parse(d), d)


def test_each_alert_of_the_group_becomes_one_alert() -> None:
    first, second = normalize("firing_checkout.json")

    assert first.source == "alertmanager"
    assert first.fingerprint == "am:6a3f1c2b9d8e7f01"
    assert second.fingerprint == "am:7b4e2d3c0a9f8e12"
    assert first.status == "firing"
    assert first.title == "5xx ratio above 5% for 10m"
    assert first.summary == "The checkout API answers 5xx to 7.2% of requests (threshold 5%)."
    assert first.service == "checkout"
    assert first.environment == "production"
    assert first.level == "critical"
    assert first.starts_at == datetime(2026, 3, 2, 10, 40, tzinfo=UTC)
    assert first.ends_at is None  # 0001-01-01 means "still firing"
    assert first.received_at == RECEIVED
    assert [(link.text, link.href) for link in first.links] == [
        ("Source", "https://prometheus.example.com/graph?g0.expr=job%3Aerrors%3Aratio5m+%3E+0.05"),
        ("Runbook", "https://runbooks.example.com/high-error-rate"),
        ("Alertmanager", "https://alertmanager.example.com"),
    ]
    assert first.raw["labels"]["instance"] == "10.0.3.17:8080"


def test_labels_are_alertmanagers_plus_the_canonical_fields() -> None:
    alert = normalize("firing_checkout.json")[0]

    assert alert.labels == {
        "alertname": "HighErrorRate",
        "service": "checkout",
        "severity": "critical",
        "env": "production",
        "instance": "10.0.3.17:8080",
        "job": "checkout-api",
        "namespace": "shop",
        "source": "alertmanager",
        "status": "firing",
        "title": "5xx ratio above 5% for 10m",
        "environment": "production",
        "level": "critical",
    }


def test_a_resolved_group_resolves_each_alert_by_its_fingerprint() -> None:
    first, second = normalize("resolved_checkout.json")

    assert [first.fingerprint, second.fingerprint] == ["am:6a3f1c2b9d8e7f01", "am:7b4e2d3c0a9f8e12"]
    assert first.status == second.status == "resolved"
    assert first.ends_at == datetime(2026, 3, 2, 11, 5, tzinfo=UTC)
    assert second.ends_at == datetime(2026, 3, 2, 11, 5, 30, tzinfo=UTC)


def test_missing_fingerprint_is_a_stable_hash_of_the_labels_and_truncation_is_a_label() -> None:
    (alert,) = normalize("truncated_no_fingerprint.json")
    (again,) = normalize("truncated_no_fingerprint.json")

    assert alert.fingerprint.startswith("am:")
    assert len(alert.fingerprint) == len("am:") + 16
    assert alert.fingerprint == again.fingerprint
    assert alert.labels["truncated_alerts"] == "37"
    assert alert.title == "DiskWillFillIn4Hours"  # no summary annotation: the alert name
    assert alert.level == "warning"
    assert alert.environment == "staging"
    assert alert.service is None
    assert "service" not in alert.labels
    assert alert.ends_at is None  # a firing alert's endsAt is only Alertmanager's guess


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        ("critical", "critical"),
        ("page", "critical"),
        ("error", "error"),
        ("warning", "warning"),
        ("info", "info"),
        ("none", "info"),
        ("", "warning"),
        ("bogus", "warning"),
    ],
)
def test_severity_label_maps_to_level(severity: str, level: str) -> None:
    body = json.loads(payload("alertmanager", "firing_checkout.json"))
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["labels"]["severity"] = severity
    d = delivery(json.dumps(body).encode())
    (alert,) = SOURCE.normalize(SOURCE.parse(d), d)
    assert alert.level == level


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("alerts"), "alerts"),
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts.0.status"),
        (lambda b: b["alerts"][0]["labels"].update(port=8080), "alerts.0.labels.port"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
    ],
)
def test_wrongly_shaped_payload_names_the_field(mutate, field) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(payload("alertmanager", "firing_checkout.json"))
    mutate(body)
    d = delivery(json.dumps(body).encode())
    with pytest.raises(BadPayload, match=rf"^{field}: "):
        SOURCE.normalize(SOURCE.parse(d), d)


def test_only_json_is_accepted() -> None:
    with pytest.raises(UnsupportedMediaType):
        SOURCE.parse(delivery(b"{}", **{"content-type": "text/plain"}))


def test_bearer_token_is_required_and_rotation_accepts_any_listed_token() -> None:
    settings = Settings(alertmanager_token="old-token, new-token")  # type: ignore[arg-type]
    for token in ("old-token", "new-token"):
        SOURCE.verify(delivery(b"{}", authorization=f"Bearer {token}"), settings)
    for header in ("Bearer wrong", "Basic b2xkLXRva2Vu", "", "Bearer "):
        with pytest.raises(Unauthorized, match=r"^invalid or missing credentials$"):
            SOURCE.verify(delivery(b"{}", authorization=header), settings)


def test_unset_token_refuses_naming_the_variable_unless_unsigned_is_allowed() -> None:
    with pytest.raises(Unauthorized, match="ALERTGW_ALERTMANAGER_TOKEN is not set"):
        SOURCE.verify(delivery(b"{}"), Settings())
    SOURCE.verify(delivery(b"{}"), Settings(allow_unsigned=True))
