"""Slack interactivity (button clicks) through the real route, signed as Slack signs."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from starlette.testclient import TestClient

from core.chat_actions import ACK_ACTION_ID, RESOLVE_ACTION_ID
from core.settings import Settings
from gateway.callbacks.slack import verify
from gateway.exceptions import Unauthorized
from tests.api.operator import KEY, SLACK_SECRET, open_incident, operator_app, status
from tests.workers.conftest import Harness

PAYLOADS = Path(__file__).parent / "payloads"
# Slack's documented example (api.slack.com, "Verifying requests from Slack")
EXAMPLE_TS = "1531420618"
EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def click(action_id: str = ACK_ACTION_ID, key: str = KEY, action_ts: str = "1772447052.194939"):
    """The documented block_actions payload (VENDORS §8) for our button, form-encoded."""
    payload: dict[str, Any] = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
    payload["actions"][0].update(action_id=action_id, value=key, action_ts=action_ts)
    return urlencode({"payload": json.dumps(payload)}).encode()


def sign(body: bytes, ts: str, secret: str = SLACK_SECRET) -> str:
    base = b"v0:" + ts.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post(http: TestClient, harness: Harness, body: bytes, **headers: str):
    ts = str(int(harness.clock.now.timestamp()))
    sent = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sign(body, ts),
    }
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    return http.post("/slack/actions", content=body, headers=sent)


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str):
    with operator_app(redis_client, key_prefix) as parts:
        yield parts


def test_slack_documented_example_verifies_within_five_minutes():
    body = (PAYLOADS / "slack_documented_example.txt").read_bytes()
    settings = Settings(slack_signing_secret=SLACK_SECRET)  # type: ignore[arg-type]
    headers = {"x-slack-request-timestamp": EXAMPLE_TS, "x-slack-signature": EXAMPLE_SIGNATURE}
    sent = datetime.fromtimestamp(int(EXAMPLE_TS), UTC)
    verify(body, headers, settings, sent + timedelta(seconds=299))
    verify(body, headers, settings, sent - timedelta(seconds=60))  # clocks drift both ways
    with pytest.raises(Unauthorized):
        verify(body, headers, settings, sent + timedelta(seconds=301))  # a replay
    with pytest.raises(Unauthorized):
        verify(body + b"&x=1", headers, settings, sent)


def test_acknowledge_button_acks_and_stops_escalation(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    answer = post(http, harness, click(ACK_ACTION_ID))
    assert answer.status_code == 200
    assert answer.content == b""
    assert status(harness) == "acknowledged"
    assert harness.ctx.store.get(KEY).lead == "@jane (Slack)"
    harness.clock.advance(timedelta(minutes=6))
    harness.run_due()
    assert ("acknowledge", "oncall") in harness.pagerduty.actions()  # PagerDuty too
    assert ("acknowledge", "incidents") in harness.slack.actions()  # the message says who
    assert ("trigger", "eng-lead") not in harness.pagerduty.actions()


def test_resolve_button_resolves_in_pagerduty(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    assert post(http, harness, click(RESOLVE_ACTION_ID)).status_code == 200
    harness.run_due()
    assert status(harness) == "resolved"
    assert ("resolve", "oncall") in harness.pagerduty.actions()
    resolved = [n for n in harness.slack.sent if n.action == "resolve"]
    assert len(resolved) == 1
    assert "@jane (Slack)" in resolved[0].text


def test_double_clicks_and_retries_are_idempotent(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    body = click(ACK_ACTION_ID)
    assert post(http, harness, body).status_code == 200
    assert post(http, harness, body).status_code == 200  # Slack's retry of the same click
    assert post(http, harness, click(ACK_ACTION_ID, action_ts="1772447053.1")).status_code == 200
    harness.run_due()
    acks = [e for e in harness.ctx.store.timeline(KEY) if e.kind == "acknowledged"]
    assert len(acks) == 1
    assert harness.pagerduty.actions().count(("acknowledge", "oncall")) == 1


def test_unknown_incidents_and_other_interactions_answer_200(
    app: tuple[TestClient, Harness, Any],
):
    http, harness, _ = app
    assert post(http, harness, click(key="never-seen")).status_code == 200
    assert status(harness, "never-seen") is None
    shortcut = urlencode({"payload": json.dumps({"type": "shortcut"})}).encode()
    assert post(http, harness, shortcut).status_code == 200
    other = click(action_id="something_else")
    open_incident(harness)
    assert post(http, harness, other).status_code == 200
    assert status(harness) == "open"


@pytest.mark.parametrize(
    "headers",
    [
        {"x_slack_signature": ""},
        {"x_slack_signature": "v0=" + "0" * 64},
        {"x_slack_request_timestamp": ""},
        {"x_slack_request_timestamp": "1531420618"},  # signed long ago: a replay
    ],
    ids=["missing", "forged", "no-timestamp", "stale"],
)
def test_unsigned_forged_or_stale_clicks_are_refused(
    app: tuple[TestClient, Harness, Any], headers: dict[str, str]
):
    http, harness, _ = app
    open_incident(harness)
    answer = post(http, harness, click(RESOLVE_ACTION_ID), **headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid or missing credentials"}
    assert status(harness) == "open"


def test_a_click_signed_with_another_secret_is_refused(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    body = click(RESOLVE_ACTION_ID)
    ts = str(int(harness.clock.now.timestamp()))
    answer = post(http, harness, body, x_slack_signature=sign(body, ts, "not-the-secret"))
    assert answer.status_code == 401
    assert status(harness) == "open"


def test_bad_bodies(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    json_body = b'{"payload": {}}'
    answer = post(http, harness, json_body, content_type="application/json")
    assert answer.status_code == 415
    assert post(http, harness, b"nothing=here").json() == {"error": "payload: field required"}
    answer = post(http, harness, urlencode({"payload": "{"}).encode())
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["error"]
