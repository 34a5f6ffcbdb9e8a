"""The contract every source keeps, over HTTP through the real app and a real Redis.

Good credentials are accepted (also each secret of a rotation list), bad, missing or
tampered ones are 401 and enqueue nothing, a wrong content type is 415, a malformed
or wrongly shaped body is 400 naming the field, an oversized body is 413, and no
answer ever echoes a secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from core.handoff import stream_keys
from core.settings import Settings
from gateway.app import create_app
from tests.conftest import payload
from tests.sources.deliveries import sign

OLD, NEW = "old-secret-0f3a", "new-secret-9b1c"
MAX_BODY = 64 * 1024
RULES = """\
version: 1
targets:
  incidents: {slack: {channel: "#incidents"}}
escalations:
  chat: {steps: [{notify: [incidents]}]}
rules:
  - name: production-errors
    matchers: ['environment=~"prod|production"', 'level=~"critical|error"']
    severity: SEV2
    escalation: chat
default:
  severity: SEV3
  escalation: chat
"""
# Where the credential travels; a "missing" credential keeps every other header
CREDENTIAL_FIELDS = {"authorization", "sentry-hook-signature", "x-vercel-signature", "token"}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# How each source carries its credential: (body, secret) -> (headers, query)
Credential = Callable[[bytes, str], tuple[dict[str, str], dict[str, str]]]


def bearer(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"authorization": f"Bearer {secret}"}, {}


def sentry_signature(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"sentry-hook-resource": "issue", "sentry-hook-signature": sign(secret, body)}, {}


def legacy_token(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    return {}, {"token": secret}


def vercel_signature(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"x-vercel-signature": sign(secret, body, "sha1")}, {}


@dataclass(frozen=True)
class Case:
    """One way of posting to one source."""

    id: str
    source: str
    setting: str
    variable: str
    credential: Credential
    fixture: str
    accepted: int
    misshaped: bytes  # valid JSON (or form), wrong shape
    field: str  # what the 400 must name
    signed: bool  # the credential covers the body, so tampering is detectable
    content_type: str = JSON


CASES = [
    Case(
        "alertmanager", "alertmanager", "alertmanager_token", "ALERTGW_ALERTMANAGER_TOKEN",
        bearer, "firing_checkout.json", 2,
        b'{"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}',
        "alerts.0.labels", signed=False,
    ),
    Case(
        "sentry", "sentry", "sentry_client_secret", "ALERTGW_SENTRY_CLIENT_SECRET",
        sentry_signature, "issue_created.json", 1,
        b'{"action": "created", "data": {"issue": {"title": "x"}}}',
        "data.issue.id", signed=True,
    ),
    Case(
        "sentry-legacy", "sentry", "sentry_legacy_token", "ALERTGW_SENTRY_LEGACY_TOKEN",
        legacy_token, "legacy_plugin.json", 1,
        b'{"project_slug": "checkout-api", "triggering_rules": "not a list"}',
        "id", signed=False,
    ),
    Case(
        "datadog", "datadog", "datadog_token", "ALERTGW_DATADOG_TOKEN",
        bearer, "template_triggered.json", 1,
        b'{"alert_id": "1", "title": ["not", "a", "string"]}',
        "title", signed=False,
    ),
    Case(
        "datadog-form", "datadog", "datadog_token", "ALERTGW_DATADOG_TOKEN",
        bearer, "template_triggered.form", 1,
        b"alert_id=1&org=%7B%22id%22%3A%5B1%5D%7D",
        "org.id", signed=False, content_type=FORM,
    ),
    Case(
        "vercel", "vercel", "vercel_secret", "ALERTGW_VERCEL_SECRET",
        vercel_signature, "deployment_error.json", 1,
        b'{"id": "x", "type": "deployment.error", "payload": {}}',
        "payload.deployment", signed=True,
    ),
]  # fmt: skip


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    return tmp_path


@pytest.fixture
def app_for(
    redis_url: str, key_prefix: str, rules_dir: Path
) -> Iterator[Callable[..., TestClient]]:
    """Start the gateway with the given settings; every client is closed after the test."""
    clients: list[TestClient] = []

    def start(**secrets: Any) -> TestClient:
        settings = Settings(
            redis_url=redis_url,
            redis_prefix=key_prefix,
            rules=rules_dir,
            max_body_bytes=MAX_BODY,
            allow_unsigned=False,
            **secrets,
        )
        client = TestClient(create_app(settings)).__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def body_of(case: Case) -> bytes:
    folder = case.source
    return payload(folder, case.fixture)


def post(
    client: TestClient,
    case: Case,
    body: bytes,
    secret: str | None = NEW,
    signed_body: bytes | None = None,
    content_type: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers, query = case.credential(signed_body or body, secret or "unused")
    if secret is None:
        headers = {k: v for k, v in headers.items() if k not in CREDENTIAL_FIELDS}
        query = {k: v for k, v in query.items() if k not in CREDENTIAL_FIELDS}
    headers = {"content-type": content_type or case.content_type, **headers}
    response = client.post(f"/webhooks/{case.source}", content=body, headers=headers, params=query)
    for value in (OLD, NEW):
        assert value not in response.text  # no answer ever echoes a secret
    return response.status_code, response.json()


def enqueued(redis_client: redis.Redis, prefix: str) -> int:
    return sum(int(redis_client.xlen(key)) for key in stream_keys(prefix))


@pytest.fixture(params=CASES, ids=[case.id for case in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    result: Case = request.param
    return result


@pytest.fixture
def client(case: Case, app_for: Callable[..., TestClient]) -> TestClient:
    """The gateway with this case's secret set as a rotation list: old and new."""
    return app_for(**{case.setting: f"{OLD},{NEW}"})


def test_good_credentials_are_accepted_and_handed_off(
    case: Case, client: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    status, answer = post(client, case, body_of(case))
    assert status == 202, answer
    assert answer["accepted"] == case.accepted
    assert len(answer["alerts"]) == case.accepted
    assert all(alert["fingerprint"] for alert in answer["alerts"])
    assert enqueued(redis_client, key_prefix) == case.accepted


def test_every_secret_of_a_rotation_is_accepted(case: Case, client: TestClient) -> None:
    for secret in (OLD, NEW):
        status, answer = post(client, case, body_of(case), secret=secret)
        assert status == 202, answer


@pytest.mark.parametrize("credential", ["wrong", "missing", "tampered"])
def test_bad_credentials_are_401_and_enqueue_nothing(
    case: Case,
    client: TestClient,
    redis_client: redis.Redis,
    key_prefix: str,
    credential: str,
) -> None:
    body = body_of(case)
    if credential == "wrong":
        status, answer = post(client, case, body, secret="not-the-secret")
    elif credential == "missing":
        status, answer = post(client, case, body, secret=None)
    elif case.signed:
        # signed over the original bytes, sent with one byte changed
        status, answer = post(client, case, body.replace(b"e", b"E", 1), signed_body=body)
    else:
        pytest.skip("a token does not cover the body; tampering is the wrong-token case")
    assert (status, answer) == (401, {"error": "invalid or missing credentials"})
    assert enqueued(redis_client, key_prefix) == 0


def test_unset_secret_refuses_and_names_the_variable(
    case: Case, app_for: Callable[..., TestClient]
) -> None:
    status, answer = post(app_for(), case, body_of(case))
    assert status == 401
    assert case.variable in answer["error"]


def test_wrong_content_type_is_415(case: Case, client: TestClient) -> None:
    status, answer = post(client, case, body_of(case), content_type="text/plain")
    assert status == 415
    assert "Content-Type" in answer["error"]


def test_malformed_body_is_400(case: Case, client: TestClient) -> None:
    broken = b"%%%" if case.content_type == FORM else b'{"truncated": '
    status, answer = post(client, case, broken)
    assert status == 400
    assert answer["error"]


def test_wrongly_shaped_body_is_400_naming_the_field(
    case: Case, client: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    status, answer = post(client, case, case.misshaped)
    assert status == 400
    assert answer["error"].startswith(f"{case.field}:"), answer
    assert enqueued(redis_client, key_prefix) == 0


def test_oversized_body_is_413(case: Case, client: TestClient) -> None:
    if case.content_type == FORM:
        big = b"title=" + b"x" * MAX_BODY
    else:
        big = json.dumps({"padding": "x" * MAX_BODY}).encode()
    status, answer = post(client, case, big)
    assert status == 413
    assert answer["error"]


@pytest.mark.parametrize(
    ("source", "setting", "fixture", "credential"),
    [
        ("sentry", "sentry_client_secret", "installation_created.json", sentry_signature),
        ("sentry", "sentry_client_secret", "comment_created.json", sentry_signature),
        ("vercel", "vercel_secret", "project_created.json", vercel_signature),
        ("vercel", "vercel_secret", "deployment_created.json", vercel_signature),
    ],
)
def test_deliveries_that_are_not_alerts_are_accepted_with_none(
    app_for: Callable[..., TestClient],
    redis_client: redis.Redis,
    key_prefix: str,
    source: str,
    setting: str,
    fixture: str,
    credential: Credential,
) -> None:
    client = app_for(**{setting: NEW})
    body = payload(source, fixture)
    headers, _ = credential(body, NEW)
    resource = fixture.split("_")[0]  # the resource Sentry names in its header
    headers = {"content-type": JSON, **headers, "sentry-hook-resource": resource}
    response = client.post(f"/webhooks/{source}", content=body, headers=headers)
    assert (response.status_code, response.json()) == (202, {"accepted": 0, "alerts": []})
    assert enqueued(redis_client, key_prefix) == 0


def test_a_vercel_redelivery_is_processed_once(
    app_for: Callable[..., TestClient], redis_client: redis.Redis, key_prefix: str
) -> None:
    client = app_for(vercel_secret=NEW)
    case = next(c for c in CASES if c.id == "vercel")
    first = post(client, case, body_of(case))
    again = post(client, case, body_of(case))
    assert first[0] == again[0] == 202
    assert first[1]["accepted"] == 1
    assert again[1] == {"accepted": 0, "alerts": [], "duplicate": True}
    assert enqueued(redis_client, key_prefix) == 1


def test_a_datadog_retry_of_one_event_is_processed_once(
    app_for: Callable[..., TestClient], redis_client: redis.Redis, key_prefix: str
) -> None:
    client = app_for(datadog_token=NEW)
    json_case, form_case = (c for c in CASES if c.source == "datadog")
    assert post(client, json_case, body_of(json_case))[1]["accepted"] == 1
    # the same event ($ID) again, even form-encoded, is a retry of the same notification
    assert post(client, form_case, body_of(form_case))[1]["duplicate"] is True
    assert enqueued(redis_client, key_prefix) == 1
