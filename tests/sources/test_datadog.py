"""Datadog: default and recommended-template payloads, JSON and form-encoded, field by field."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from core.models import Alert
from gateway.exceptions import BadPayload, Unauthorized, UnsupportedMediaType
from gateway.sources.datadog import SOURCE, read_title
from tests.conftest import payload
from tests.sources.deliveries import RECEIVED, delivery, fixture, settings

FORM = "application/x-www-form-urlencoded"
TRIGGERED_AT = datetime(2026, 3, 2, 10, 22, 19, tzinfo=UTC)
RECOVERED_AT = datetime(2026, 3, 2, 10, 37, 19, tzinfo=UTC)
STATUS = "sum:trace.http.request.errors{service:checkout} over service:checkout,env:prod was"
LINK = "https://app.datadoghq.com/event/jump_to?event_id="


def only(body: bytes, content_type: str = "application/json") -> Alert:
    sent = delivery(body, content_type=content_type)
    alerts = SOURCE.normalize(SOURCE.parse(sent), sent)
    assert len(alerts) == 1
    return alerts[0]


def fields(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(exclude={"raw", "received_at"})


def canonical(status: str, title: str, service: str, env: str, level: str) -> dict[str, str]:
    return {
        "source": "datadog",
        "status": status,
        "title": title,
        "service": service,
        "environment": env,
        "level": level,
    }


def template_fields(status: str, transition: str, alert_type: str) -> dict[str, Any]:
    resolved = status == "resolved"
    title = "Checkout 5xx rate high"
    return {
        "source": "datadog",
        "fingerprint": "datadog:7423481950713918000",
        "status": status,
        "title": title,
        "summary": f"{STATUS} {'<=' if resolved else '>'} 0.05 on average during the last 5m",
        "service": "checkout",
        "environment": "prod",
        "level": "error",  # P2 on trigger and on recovery alike
        "labels": {
            "env": "prod",
            "service": "checkout",
            "team": "payments",
            "monitor_id": "98765432",
            "transition": transition,
            "alert_type": alert_type,
            "priority": "P2",
            "event_type": "query_alert_monitor",
            "org": "Acme",
            **canonical(status, title, "checkout", "prod", "error"),
        },
        "links": [
            {
                "href": f"{LINK}{'7423481950713920001' if resolved else '7423481950713920000'}",
                "text": "Datadog event",
            }
        ],
        "starts_at": RECOVERED_AT if resolved else TRIGGERED_AT,
        "ends_at": RECOVERED_AT if resolved else None,
    }


@pytest.mark.parametrize(
    ("name", "status", "transition", "alert_type"),
    [
        ("template_triggered.json", "firing", "Triggered", "error"),
        ("template_recovered.json", "resolved", "Recovered", "success"),
    ],
)
def test_recommended_template(name: str, status: str, transition: str, alert_type: str) -> None:
    body, raw = fixture("datadog", name)
    alert = only(body)
    assert fields(alert) == template_fields(status, transition, alert_type)
    assert alert.raw == raw
    assert alert.received_at == RECEIVED


def test_form_encoded_is_read_like_json() -> None:
    form = only(payload("datadog", "template_triggered.form"), FORM)
    json_body = only(payload("datadog", "template_triggered.json"))
    assert form == json_body


def test_form_with_one_payload_field_holding_the_json() -> None:
    body = urlencode({"payload": payload("datadog", "template_triggered.json").decode()})
    assert only(body.encode(), FORM) == only(payload("datadog", "template_triggered.json"))


@pytest.mark.parametrize(
    ("name", "status", "moment"),
    [
        ("default_triggered.json", "firing", TRIGGERED_AT),
        ("default_recovered.json", "resolved", RECOVERED_AT),
    ],
)
def test_default_payload(name: str, status: str, moment: datetime) -> None:
    body, raw = fixture("datadog", name)
    alert = only(body)
    title = "Checkout 5xx rate high"
    transition = "Recovered" if status == "resolved" else "Triggered"
    assert fields(alert) == {
        "source": "datadog",
        # no key fields in the default payload: monitor name and scope from the title
        "fingerprint": "datadog:title:" + fingerprint_of_title(title, "service:checkout,env:prod"),
        "status": status,
        "title": title,
        "summary": "5xx rate on checkout above 5%\n@webhook-alert-gateway",
        "service": "checkout",
        "environment": "prod",
        "level": "error",
        "labels": {
            "service": "checkout",
            "env": "prod",
            "transition": transition,
            "priority": "P2",
            "event_type": "query_alert_monitor",
            "org": "Acme",
            **canonical(status, title, "checkout", "prod", "error"),
        },
        "links": [],
        "starts_at": moment,
        "ends_at": moment if status == "resolved" else None,
    }
    assert alert.raw == raw


def fingerprint_of_title(name: str, scope: str) -> str:
    return hashlib.sha256(f"{name}\n{scope}".encode()).hexdigest()[:16]


def test_default_trigger_and_recovery_share_a_fingerprint() -> None:
    fired = only(payload("datadog", "default_triggered.json"))
    recovered = only(payload("datadog", "default_recovered.json"))
    assert fired.fingerprint == recovered.fingerprint


def test_unrendered_and_empty_values_are_not_labels() -> None:
    body, raw = fixture("datadog", "template_warn_unrendered.json")
    alert = only(body)
    title = "Disk almost full"
    moment = datetime(2026, 3, 2, 11, 13, 20, tzinfo=UTC)
    assert fields(alert) == {
        "source": "datadog",
        "fingerprint": "datadog:55501234:host:web-3",  # no cycle key: monitor id and scope
        "status": "firing",
        "title": title,
        "summary": "system.disk.in_use over host:web-3 was > 0.85 on average during the last 10m",
        "service": None,  # $TAGS[service] was left unrendered
        "environment": "staging",
        "level": "warning",
        "labels": {
            "host": "web-3",
            "env": "staging",
            "role": "web,cache",
            "monitor_id": "55501234",
            "transition": "Warn",
            "alert_type": "warning",
            "event_type": "metric_alert_monitor",
            "hostname": "web-3",
            "org": "Acme",
            "source": "datadog",
            "status": "firing",
            "title": title,
            "environment": "staging",
            "level": "warning",
        },
        "links": [{"href": f"{LINK}7423481950713930000", "text": "Datadog event"}],
        "starts_at": moment,
        "ends_at": None,
    }
    assert not any(value.startswith("$") for value in alert.labels.values())
    assert alert.raw == raw


def test_aggregation_key_is_the_last_key_and_p1_is_critical() -> None:
    body, _ = fixture("datadog", "template_no_data_aggreg.json")
    alert = only(body)
    assert alert.fingerprint == "datadog:c0ffee313a4d1e8fae2482df7b7762aa"
    assert alert.status == "firing"
    assert alert.level == "critical"
    assert alert.title == "Payments worker heartbeat"
    assert alert.service == "payments-worker"
    assert alert.environment == "production"
    assert alert.labels["transition"] == "No Data"
    assert alert.links == []
    assert alert.summary == ""


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("[P2] [Triggered on {env:prod}] Name", ("P2", "Triggered", "env:prod", "Name")),
        ("[Re-Warn on {host:a,role:b}] Disk", ("", "Re-Warn", "host:a,role:b", "Disk")),
        ("[No Data] Heartbeat", ("", "No Data", "", "Heartbeat")),
        ("Plain title", ("", "", "", "Plain title")),
    ],
)
def test_read_title(text: str, parts: tuple[str, ...]) -> None:
    assert tuple(read_title(text)) == parts


@pytest.mark.parametrize(
    ("priority", "alert_type", "transition", "level"),
    [
        ("P1", "", "Triggered", "critical"),
        ("p3", "error", "Triggered", "warning"),  # the priority wins over the type
        ("P5", "", "Triggered", "info"),
        ("", "warning", "Warn", "warning"),
        ("", "", "Re-Warn", "warning"),
        ("", "", "Triggered", "error"),
        ("$ALERT_PRIORITY", "$ALERT_TYPE", "Renotify", "error"),
    ],
)
def test_level(priority: str, alert_type: str, transition: str, level: str) -> None:
    body = {
        "alert_id": "1",
        "priority": priority,
        "alert_type": alert_type,
        "transition": transition,
    }
    alerts = SOURCE.normalize(body, delivery(b""))
    assert alerts[0].level == level


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": ["a"]}, "title"),
        ({"alert_id": "1", "org": "acme"}, "org"),
        ({"body": "no key"}, "no alert key"),
        ([1, 2], "body"),
    ],
)
def test_wrongly_shaped_bodies_name_the_field(body: Any, message: str) -> None:
    with pytest.raises(BadPayload, match=message):
        SOURCE.normalize(body, delivery(b""))


def test_parse_refuses_other_content_types_and_bad_forms() -> None:
    with pytest.raises(UnsupportedMediaType):
        SOURCE.parse(delivery(b"x", content_type="text/plain"))
    with pytest.raises(BadPayload, match="form"):
        SOURCE.parse(delivery(b"no-equals-sign", content_type=FORM))
    with pytest.raises(BadPayload, match="JSON"):
        SOURCE.parse(delivery(b"{", content_type="application/json"))


def test_bearer_token_with_rotation() -> None:
    body = payload("datadog", "template_triggered.json")
    config = settings(datadog_token="old-token,new-token")
    for token in ("old-token", "new-token"):
        SOURCE.verify(delivery(body, {"Authorization": f"Bearer {token}"}), config)
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": "new-token"}, {}):
        with pytest.raises(Unauthorized):
            SOURCE.verify(delivery(body, headers), config)
    with pytest.raises(Unauthorized, match="ALERTGW_DATADOG_TOKEN"):
        SOURCE.verify(delivery(body, {"Authorization": "Bearer x"}), settings())


def test_delivery_id_is_the_event_id() -> None:
    body, parsed = fixture("datadog", "template_triggered.json")
    assert SOURCE.delivery_id(parsed, delivery(body)) == "7423481950713920000"
    assert SOURCE.delivery_id({"id": "$ID"}, delivery(body)) is None
    assert SOURCE.delivery_id({}, delivery(body)) is None
    assert SOURCE.delivery_id([], delivery(body)) is None


@pytest.mark.parametrize("date", ["999999999999999", "9" * 40, "soon", "$DATE", ""])
def test_a_date_datadog_cannot_mean_falls_back_to_arrival(date: str) -> None:
    alert = SOURCE.normalize({"alert_id": "1", "date": date}, delivery(b""))[0]
    assert alert.starts_at == RECEIVED
