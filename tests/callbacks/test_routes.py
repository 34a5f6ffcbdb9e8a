"""The callbacks and the API as `create_app` wires them, with the real clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from core.settings import Settings
from gateway.app import create_app
from tests.callbacks.test_pagerduty import event, signed
from tests.callbacks.test_slack import click, sign

RULES = """\
version: 1
targets:
  incidents: {slack: {channel: "#incidents"}}
escalations:
  chat: {steps: [{notify: [incidents]}]}
default:
  severity: SEV3
  escalation: chat
"""


@pytest.fixture
def client(redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "rules.yaml").write_text(RULES)
    settings = Settings(
        redis_url=redis_url,
        redis_prefix=key_prefix,
        rules=tmp_path,
        api_token="t",  # type: ignore[arg-type]
        pagerduty_webhook_secret="pd",  # type: ignore[arg-type]
        slack_signing_secret="sl",  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_pagerduty_is_a_callback_not_an_alert_source(client: TestClient):
    body = event("incident.acknowledged", key="unknown:key")
    headers = {"content-type": "application/json", "x-pagerduty-signature": signed(body, "pd")}
    answer = client.post("/webhooks/pagerduty", content=body, headers=headers)
    assert answer.status_code == 202
    assert answer.json() == {"outcome": "unknown", "incident": "unknown:key"}


def test_slack_actions_check_the_timestamp_against_the_real_clock(client: TestClient):
    body = click()
    for ts, code in ((str(int(time.time())), 200), (str(int(time.time()) - 600), 401)):
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": sign(body, ts, "sl"),
        }
        assert client.post("/slack/actions", content=body, headers=headers).status_code == code


def test_the_api_is_mounted(client: TestClient):
    assert client.get("/api/v1/openapi.json").status_code == 200
    answer = client.get("/api/v1/incidents", headers={"authorization": "Bearer t"})
    assert answer.json() == {"incidents": [], "total": 0, "next_cursor": None}
    assert client.get("/api/v1/incidents").status_code == 401
