"""Logs: JSON or text, with the request's id and source on every line, never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from core import logs
from core.settings import Settings
from gateway.app import create_app
from tests.conftest import REPO, payload

TOKEN = "am-token-that-must-not-be-logged"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """alertgw's JSON log output, as an operator's log shipper would read it."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure("DEBUG", "json")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    root.handlers[:], root.level = saved


def records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_webhook_request_logs_json_with_its_request_id_and_source(
    captured: io.StringIO, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=redis_url,
        redis_prefix=key_prefix,
        rules=REPO / "rules",
        alertmanager_token=TOKEN,
    )
    with TestClient(create_app(settings)) as client:
        refused = client.post(
            "/webhooks/alertmanager",
            content=payload("alertmanager", "firing_checkout.json"),
            headers={"content-type": "application/json", "authorization": "Bearer wrong-one"},
        )
        truncated = client.post(
            "/webhooks/alertmanager",
            content=payload("alertmanager", "truncated_no_fingerprint.json"),
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {TOKEN}",
                "x-request-id": "req-from-the-proxy",
            },
        )
    assert refused.status_code == 401
    assert truncated.status_code == 202
    assert truncated.headers["x-request-id"] == "req-from-the-proxy"
    generated = refused.headers["x-request-id"]
    assert len(generated) == 16

    lines = records(captured)
    refusal = next(r for r in lines if r["message"].startswith("refused with 401"))
    assert refusal["request_id"] == generated
    assert refusal["source"] == "alertmanager"
    warning = next(r for r in lines if "truncated group" in r["message"])
    assert warning["level"] == "warning"
    assert warning["request_id"] == "req-from-the-proxy"
    text = captured.getvalue()
    assert TOKEN not in text
    assert "wrong-one" not in text


def test_a_request_id_that_is_not_a_sane_token_is_replaced() -> None:
    assert logs.request_id("abc-123_x.y", "fresh") == "abc-123_x.y"
    assert logs.request_id("evil\nlog line", "fresh") == "fresh"
    assert logs.request_id("x" * 65, "fresh") == "fresh"
    assert logs.request_id(None, "fresh") == "fresh"


def test_text_format_appends_the_context_fields() -> None:
    formatter = logs.TextFormatter()
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "accepted", None, None)
    with logs.context(request_id="r1", source="vercel"):
        logs.ContextFilter().filter(record)
    assert formatter.format(record).endswith("gateway: accepted [request_id=r1 source=vercel]")
