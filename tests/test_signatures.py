"""Credentials under attack: bad, missing, tampered, retired and replayed deliveries.

Every refusal of one source answers the very same 401 body, so a caller cannot learn
which check failed, and a refused delivery enqueues nothing.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import redis
from starlette.testclient import TestClient

from core.handoff import stream_keys
from core.settings import Settings
from gateway.app import create_app
from tests.conftest import payload

RETIRED, CURRENT, NEXT = "retired-0a1b", "current-2c3d", "next-4e5f"
RULES = """\
version: 1
targets:
  incidents: {slack: {channel: "#incidents"}}
escalations:
  chat: {steps: [{notify: [incidents]}]}
default: {severity: SEV3, escalation: chat}
"""
# (headers, query) that carry `secret` for `body`
Signer = Callable[[bytes, str], tuple[dict[str, str], dict[str, str]]]


def sentry(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    digest = hmac.new(secret.encode(), body, "sha256").hexdigest()
    return {"sentry-hook-resource": "issue", "sentry-hook-signature": digest}, {}


def vercel(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"x-vercel-signature": hmac.new(secret.encode(), body, "sha1").hexdigest()}, {}


def bearer(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"authorization": f"Bearer {secret}"}, {}


def legacy(body: bytes, secret: str) -> tuple[dict[str, str], dict[str, str]]:
    return {}, {"token": secret}


class Scheme(NamedTuple):
    """One way a source authenticates its deliveries."""

    id: str
    source: str
    setting: str
    fixture: tuple[str, str]
    sign: Signer
    covers_body: bool  # a signature covers the body, so tampering is detectable


SCHEMES = [
    Scheme("sentry", "sentry", "sentry_client_secret",
           ("sentry", "issue_created.json"), sentry, True),
    Scheme("vercel", "vercel", "vercel_secret",
           ("vercel", "deployment_error.json"), vercel, True),
    Scheme("alertmanager", "alertmanager", "alertmanager_token",
           ("alertmanager", "firing_checkout.json"), bearer, False),
    Scheme("datadog", "datadog", "datadog_token",
           ("datadog", "template_triggered.json"), bearer, False),
    Scheme("sentry-legacy", "sentry", "sentry_legacy_token",
           ("sentry", "legacy_plugin.json"), legacy, False),
]  # fmt: skip


@pytest.fixture(params=SCHEMES, ids=[scheme.id for scheme in SCHEMES])
def scheme(request: pytest.FixtureRequest) -> Scheme:
    result: Scheme = request.param
    return result


@pytest.fixture
def client(
    scheme: Scheme,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
) -> Iterator[TestClient]:
    """The gateway mid-rotation: RETIRED was removed from the list, NEXT was added."""
    (tmp_path / "rules.yaml").write_text(RULES)
    settings = Settings(
        redis_url=redis_url,
        redis_prefix=key_prefix,
        rules=tmp_path,
        allow_unsigned=False,
        **{scheme.setting: f"{CURRENT},{NEXT}"},  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings)) as client:
        yield client


def send(
    client: TestClient,
    scheme: Scheme,
    body: bytes,
    secret: str | None,
    signed: bytes | None = None,
) -> tuple[int, bytes]:
    headers, query = scheme.sign(signed if signed is not None else body, secret or "")
    if secret is None:
        headers, query = {"sentry-hook-resource": "issue"} if scheme.id == "sentry" else {}, {}
    response = client.post(
        f"/webhooks/{scheme.source}",
        content=body,
        headers={"content-type": "application/json", **headers},
        params=query,
    )
    for secret_value in (RETIRED, CURRENT, NEXT):
        assert secret_value not in response.text
    return response.status_code, response.content


def enqueued(redis_client: redis.Redis, prefix: str) -> int:
    return sum(int(redis_client.xlen(key)) for key in stream_keys(prefix))


def test_every_refusal_of_a_source_is_the_same_401(
    client: TestClient,
    scheme: Scheme,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    body = payload(*scheme.fixture)
    answers = {
        "bad": send(client, scheme, body, "not-a-secret"),
        "missing": send(client, scheme, body, None),
        "retired": send(client, scheme, body, RETIRED),
        "empty": send(client, scheme, body, ""),
        "prefix of the secret": send(client, scheme, body, CURRENT[:-1]),
        "both secrets joined": send(client, scheme, body, f"{CURRENT},{NEXT}"),
    }
    if scheme.covers_body:
        # signed over the vendor's bytes, delivered with one byte changed
        answers["tampered"] = send(client, scheme, body.replace(b"e", b"E", 1), CURRENT, body)
        answers["signature of another body"] = send(client, scheme, body, CURRENT, b"{}")
    assert set(answers.values()) == {(401, b'{"error":"invalid or missing credentials"}')}, answers
    assert enqueued(redis_client, key_prefix) == 0


def test_both_secrets_of_a_rotation_are_accepted(
    client: TestClient,
    scheme: Scheme,
) -> None:
    for secret in (CURRENT, NEXT):
        document = json.loads(payload(*scheme.fixture))
        if scheme.id in ("vercel", "datadog"):
            document["id"] = f"{document['id']}-{secret}"  # a new delivery, not a replay
        status, answer = send(client, scheme, json.dumps(document).encode(), secret)
        assert status == 202, answer


@pytest.mark.parametrize("scheme", [SCHEMES[1], SCHEMES[3]], ids=["vercel", "datadog"])
def test_a_replayed_delivery_is_processed_once(
    client: TestClient,
    scheme: Scheme,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    body = payload(*scheme.fixture)
    first = send(client, scheme, body, CURRENT)
    replays = [send(client, scheme, body, secret) for secret in (CURRENT, NEXT, CURRENT)]
    assert first[0] == 202
    assert json.loads(first[1])["accepted"] == 1
    for status, answer in replays:
        assert (status, json.loads(answer)) == (
            202,
            {"accepted": 0, "alerts": [], "duplicate": True},
        )
    assert enqueued(redis_client, key_prefix) == 1


@pytest.mark.parametrize("scheme", [SCHEMES[1]], ids=["vercel"])
def test_a_replay_with_a_bad_signature_is_401_not_duplicate(
    client: TestClient,
    scheme: Scheme,
) -> None:
    body = payload(*scheme.fixture)
    assert send(client, scheme, body, CURRENT)[0] == 202
    # the duplicate answer is only for authentic redeliveries: it must not leak that
    # an id was seen to someone without the secret
    assert send(client, scheme, body, "not-a-secret")[0] == 401
