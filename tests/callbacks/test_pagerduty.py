"""PagerDuty webhooks v3 through the real route, signed as PagerDuty signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from core.settings import Settings
from gateway.callbacks.pagerduty import verify
from gateway.exceptions import Unauthorized
from tests.api.operator import KEY, PD_SECRET, open_incident, operator_app, status
from tests.workers.conftest import Harness

PAYLOADS = Path(__file__).parent / "payloads"
# go-pagerduty's webhookv3 test: the secret, body and signature PagerDuty's client checks
GO_SECRET = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
GO_SIGNATURE = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"


def event(event_type: str, key: str = KEY, event_id: str = "01DEN4HPBQAPA5F5ZEZHXYHAKF") -> bytes:
    """The documented v3 example (VENDORS §6), for our incident key and event type."""
    body: dict[str, Any] = json.loads(
        (PAYLOADS / "pagerduty_incident_acknowledged.json").read_text()
    )
    body["event"].update(event_type=event_type, id=event_id)
    body["event"]["data"]["incident_key"] = key
    return json.dumps(body).encode()


def signed(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def post(http: TestClient, body: bytes, signature: str | None = None, webhook_id: str = "w-1"):
    headers = {"content-type": "application/json", "x-webhook-id": webhook_id}
    headers["x-pagerduty-signature"] = signed(body, PD_SECRET) if signature is None else signature
    return http.post("/webhooks/pagerduty", content=body, headers=headers)


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str):
    with operator_app(redis_client, key_prefix) as parts:
        yield parts


def counted(event_type: str, outcome: str) -> float:
    labels = {"vendor": "pagerduty", "event": event_type, "outcome": outcome}
    return REGISTRY.get_sample_value("alertgw_callbacks_total", labels) or 0.0


def test_go_pagerduty_signed_example_verifies():
    body = (PAYLOADS / "pagerduty_go_priority_updated.json").read_bytes()
    settings = Settings(pagerduty_webhook_secret=GO_SECRET)  # type: ignore[arg-type]
    verify(body, GO_SIGNATURE, settings)
    verify(body, "v1=" + "0" * 64 + "," + GO_SIGNATURE, settings)  # any of a list
    with pytest.raises(Unauthorized):
        verify(body + b" ", GO_SIGNATURE, settings)
    with pytest.raises(Unauthorized):
        verify(body, GO_SIGNATURE.replace("v1=", "v0="), settings)


def test_acknowledged_stops_the_next_escalation_step(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    assert ("trigger", "oncall") in harness.pagerduty.actions()

    answer = post(http, event("incident.acknowledged"))
    assert answer.status_code == 202
    assert answer.json() == {"outcome": "applied", "incident": KEY}
    assert status(harness) == "acknowledged"
    assert harness.ctx.store.get(KEY).lead == "Jane Doe (PagerDuty)"

    harness.clock.advance(timedelta(minutes=6))
    harness.run_due()
    assert ("trigger", "eng-lead") not in harness.pagerduty.actions()
    assert ("acknowledge", "incidents") in harness.slack.actions()  # Slack says who


def test_without_an_acknowledgement_the_next_step_pages(app: tuple[TestClient, Harness, Any]):
    _, harness, _ = app
    open_incident(harness)
    harness.clock.advance(timedelta(minutes=6))
    harness.run_due()
    assert ("trigger", "eng-lead") in harness.pagerduty.actions()


def test_resolved_resolves_every_target_told(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    harness.clock.advance(timedelta(minutes=6))
    harness.run_due()  # eng-lead paged too: a second routing key

    assert post(http, event("incident.resolved")).json()["outcome"] == "applied"
    harness.run_due()
    assert status(harness) == "resolved"
    assert {("resolve", "oncall"), ("resolve", "eng-lead")} <= set(harness.pagerduty.actions())
    assert ("resolve", "incidents") in harness.slack.actions()
    harness.clock.advance(timedelta(hours=1))
    harness.run_due()
    assert ("trigger", "cto") not in harness.pagerduty.actions()  # pending steps cancelled


def test_a_redelivery_is_processed_once(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    before = counted("incident.acknowledged", "duplicate")
    assert (
        post(http, event("incident.acknowledged"), webhook_id="w-9").json()["outcome"] == "applied"
    )
    again = post(http, event("incident.acknowledged"), webhook_id="w-9")
    assert again.status_code == 202
    assert again.json()["outcome"] == "duplicate"
    assert counted("incident.acknowledged", "duplicate") == before + 1
    acknowledged = [e for e in harness.ctx.store.timeline(KEY) if e.kind == "acknowledged"]
    assert len(acknowledged) == 1


def test_unknown_incidents_and_other_events_are_accepted_as_no_ops(
    app: tuple[TestClient, Harness, Any],
):
    http, harness, _ = app
    before = counted("incident.acknowledged", "unknown")
    answer = post(http, event("incident.acknowledged", key="never-seen"), webhook_id="w-2")
    assert (answer.status_code, answer.json()["outcome"]) == (202, "unknown")
    assert counted("incident.acknowledged", "unknown") == before + 1

    open_incident(harness)
    for n, kind in enumerate(("incident.priority_updated", "incident.annotated")):
        answer = post(http, event(kind), webhook_id=f"w-other-{n}")
        assert (answer.status_code, answer.json()["outcome"]) == (202, "ignored")
    assert status(harness) == "open"


def test_unacknowledged_resumes_the_escalation(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    post(http, event("incident.acknowledged"), webhook_id="w-a")
    harness.clock.advance(timedelta(minutes=2))
    answer = post(http, event("incident.unacknowledged"), webhook_id="w-u")
    assert (answer.status_code, answer.json()["outcome"]) == (202, "applied")
    assert status(harness) == "open"
    assert harness.ctx.store.get(KEY).lead is None
    harness.run_due()
    assert (
        harness.slack.sent[-1].text == "Unacknowledged by Jane Doe (PagerDuty): escalation resumes"
    )
    harness.clock.advance(timedelta(minutes=3))  # step 2 is due 5 minutes after step 1
    harness.run_due()
    assert ("trigger", "eng-lead") in harness.pagerduty.actions()
    # nothing to take back from an open incident
    again = post(http, event("incident.unacknowledged", event_id="other"), webhook_id="w-u2")
    assert again.json()["outcome"] == "noop"


FORGERIES = {
    "missing": lambda body: "",
    "empty": lambda body: "v1=",
    "zeros": lambda body: "v1=" + "0" * 64,
    "other-body": lambda body: signed(b"{}", PD_SECRET),
    "other-secret": lambda body: signed(body, "other-secret"),
    "other-scheme": lambda body: signed(body, PD_SECRET).replace("v1=", "v0="),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_unsigned_or_forged_webhooks_are_refused(
    app: tuple[TestClient, Harness, Any], forge: Callable[[bytes], str]
):
    http, harness, _ = app
    open_incident(harness)
    body = event("incident.resolved")
    answer = post(http, body, signature=forge(body))
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid or missing credentials"}
    assert status(harness) == "open"


def test_rotation_accepts_either_secret(redis_client: redis.Redis, key_prefix: str):
    with operator_app(
        redis_client, key_prefix, pagerduty_webhook_secret=f"old-one,{PD_SECRET}"
    ) as (http, harness, _):
        open_incident(harness)
        body = event("incident.acknowledged")
        assert post(http, body, signature=signed(body, "old-one")).status_code == 202


def test_an_unset_secret_refuses_and_names_the_variable(redis_client: redis.Redis, key_prefix: str):
    with operator_app(redis_client, key_prefix, pagerduty_webhook_secret=None) as (http, _, _):
        answer = post(http, event("incident.acknowledged"), signature="v1=abc")
        assert answer.status_code == 401
        assert "ALERTGW_PAGERDUTY_WEBHOOK_SECRET" in answer.json()["error"]


def test_malformed_bodies_are_400_naming_the_field(app: tuple[TestClient, Harness, Any]):
    http, _, _ = app
    for body, field in ((b"{", "not valid JSON"), (b'{"event": {"id": "x"}}', "event.event_type")):
        answer = post(http, body)
        assert answer.status_code == 400
        assert field in answer.json()["error"]
