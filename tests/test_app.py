"""The gateway over HTTP: SPEC §5's answers for good and bad requests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from core.handoff import decode_entry, stream_key
from core.settings import Settings
from gateway.app import create_app
from tests.conftest import payload

TOKEN = "am-token"
API_TOKEN = "api-token"
RULES = """\
version: 1
targets:
  incidents: {slack: {channel: "#incidents"}}
escalations:
  chat: {steps: [{notify: [incidents]}]}
rules:
  - name: checkout-down
    matchers: ['service="checkout"', 'level="critical"']
    severity: SEV1
    escalation: chat
    group_by: [service, environment]
default:
  severity: SEV3
  escalation: chat
"""
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    return tmp_path


@pytest.fixture
def settings(redis_url: str, key_prefix: str, rules_dir: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        redis_prefix=key_prefix,
        rules=rules_dir,
        alertmanager_token=TOKEN,  # type: ignore[arg-type]
        api_token=API_TOKEN,  # type: ignore[arg-type]
        max_body_bytes=64 * 1024,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        yield client


def post(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    response = client.post("/webhooks/alertmanager", content=body, headers=headers or AUTH)
    return {"status": response.status_code, "json": response.json()}


def test_alerts_are_classified_handed_off_and_answered_202(
    client: TestClient, key_prefix: str, redis_client: redis.Redis
) -> None:
    result = post(client, payload("alertmanager", "firing_checkout.json"))

    assert result["status"] == 202
    assert result["json"] == {
        "accepted": 2,
        "alerts": [
            {
                "fingerprint": fp,
                "status": "firing",
                "severity": "SEV1",
                "rule": "checkout-down",
                "incident": "checkout-down:service=checkout,environment=production",
            }
            for fp in ("am:6a3f1c2b9d8e7f01", "am:7b4e2d3c0a9f8e12")
        ],
    }
    entries = redis_client.xrange(stream_key(key_prefix, "SEV1"))
    assert [decode_entry(fields).alert.fingerprint for _, fields in entries] == [
        "am:6a3f1c2b9d8e7f01",
        "am:7b4e2d3c0a9f8e12",
    ]


def test_unmatched_alert_takes_the_default(client: TestClient) -> None:
    result = post(client, payload("alertmanager", "truncated_no_fingerprint.json"))
    assert result["status"] == 202
    assert result["json"]["alerts"][0]["severity"] == "SEV3"
    assert result["json"]["alerts"][0]["rule"] == "default"


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json"},
        {"content-type": "application/json", "authorization": "Bearer wrong"},
        {"content-type": "application/json", "authorization": TOKEN},
    ],
)
def test_bad_credentials_are_401_and_enqueue_nothing(
    client: TestClient, headers: dict[str, str], key_prefix: str, redis_client: redis.Redis
) -> None:
    result = post(client, payload("alertmanager", "firing_checkout.json"), headers)
    assert result == {"status": 401, "json": {"error": "invalid or missing credentials"}}
    assert redis_client.exists(stream_key(key_prefix, "SEV1")) == 0


def test_oversized_body_is_413_even_when_content_length_lies(client: TestClient) -> None:
    big = b'{"version": "4", "pad": "' + b"x" * (64 * 1024) + b'"}'
    assert post(client, big)["status"] == 413

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length at all
        yield b'{"pad": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    response = client.post("/webhooks/alertmanager", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert response.json() == {"error": "body is larger than 65536 bytes"}


def test_wrong_content_type_is_415(client: TestClient) -> None:
    headers = {**AUTH, "content-type": "text/plain"}
    assert post(client, b"{}", headers) == {
        "status": 415,
        "json": {"error": "expected Content-Type: application/json"},
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid"),
        (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
        (
            b'{"version": "4", "status": "firing", "alerts": [], "truncatedAlerts": '
            + b"9" * 5000
            + b"}",
            "body is not valid JSON",
        ),
        (b'{"version": "4", "status": "firing"}', "alerts: Field required"),
        (b"[]", "body: Input should be"),
    ],
)
def test_malformed_or_misshapen_payload_is_400_naming_the_problem(
    client: TestClient, body: bytes, message: str
) -> None:
    result = post(client, body)
    assert result["status"] == 400
    assert message in result["json"]["error"]


def test_unknown_source_is_404(client: TestClient) -> None:
    response = client.post("/webhooks/nagios", content=b"{}", headers=AUTH)
    assert response.status_code == 404
    assert "unknown source 'nagios'" in response.json()["error"]


def test_unreachable_redis_is_503_never_202(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down)) as client:
        result = post(client, payload("alertmanager", "firing_checkout.json"))
        ready = client.get("/readyz")
    assert result["status"] == 503
    assert "cannot reach Redis" in result["json"]["error"]
    assert ready.status_code == 503


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "rules": 1, "files": 1}


def test_metrics_count_requests_by_source_and_code(client: TestClient) -> None:
    post(client, payload("alertmanager", "firing_checkout.json"))
    text = client.get("/metrics").text
    assert 'alertgw_webhook_requests_total{code="202",source="alertmanager"}' in text
    assert 'alertgw_alerts_classified_total{rule="checkout-down",severity="SEV1"}' in text


def test_reload_needs_the_api_token_and_keeps_the_last_good_rules(
    client: TestClient, rules_dir: Path
) -> None:
    assert client.post("/-/reload").status_code == 401
    auth = {"authorization": f"Bearer {API_TOKEN}"}

    (rules_dir / "rules.yaml").write_text(RULES.replace("severity: SEV1", "severity: SEV9"))
    response = client.post("/-/reload", headers=auth)
    assert response.status_code == 422
    assert response.json()["error"] == "rules rejected; the last good rules stay active"
    assert any(
        p.endswith(
            "rules.yaml:9:15: rules[0].severity: Input should be 'SEV1', 'SEV2', 'SEV3' or 'SEV4'"
        )
        for p in response.json()["problems"]
    )
    assert (
        post(client, payload("alertmanager", "firing_checkout.json"))["json"]["alerts"][0][
            "severity"
        ]
        == "SEV1"
    )

    (rules_dir / "rules.yaml").write_text(RULES.replace("severity: SEV1", "severity: SEV2"))
    assert client.post("/-/reload", headers=auth).json() == {"reloaded": True, "rules": 1}
    assert (
        post(client, payload("alertmanager", "firing_checkout.json"))["json"]["alerts"][0][
            "severity"
        ]
        == "SEV2"
    )


def test_a_changed_rules_file_is_picked_up_without_a_request(
    client: TestClient, rules_dir: Path
) -> None:
    (rules_dir / "rules.yaml").write_text(RULES.replace("severity: SEV1", "severity: SEV2"))
    deadline = time.monotonic() + 10
    severity = "SEV1"
    while severity != "SEV2" and time.monotonic() < deadline:
        time.sleep(0.1)
        result = post(client, payload("alertmanager", "firing_checkout.json"))
        severity = result["json"]["alerts"][0]["severity"]
    assert severity == "SEV2"


def test_the_response_body_is_json_for_every_error(client: TestClient) -> None:
    response = client.post("/webhooks/alertmanager", content=b"{", headers=AUTH)
    assert response.headers["content-type"] == "application/json"
    assert set(json.loads(response.content)) == {"error"}
