"""Hostile bodies against every source endpoint, over a real socket to real uvicorn.

Whatever a client sends, the answer is one of 400/401/408/413/415/202, never a 500;
a slow or oversized body costs a bounded amount of time and memory; and valid
traffic is still accepted after the storm. Every body is signed with the right
secret, so the hostile bytes get past authentication into the parsers.
"""

from __future__ import annotations

import hmac
import json
import resource
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.handoff import stream_keys
from core.settings import Settings
from gateway.app import create_app
from tests.conftest import payload

SECRET = "hostile-secret-7f2c"
MAX_BODY = 64 * 1024
BODY_TIMEOUT = 0.5
ALLOWED = {202, 400, 401, 408, 413, 415}
SOURCES = ["alertmanager", "sentry", "datadog", "vercel"]
VALID = {
    "alertmanager": ("alertmanager", "firing_checkout.json"),
    "sentry": ("sentry", "issue_created.json"),
    "datadog": ("datadog", "template_triggered.json"),
    "vercel": ("vercel", "deployment_error.json"),
}
RULES = """\
version: 1
targets:
  incidents: {slack: {channel: "#incidents"}}
escalations:
  chat: {steps: [{notify: [incidents]}]}
default: {severity: SEV3, escalation: chat}
"""


def signed_headers(source: str, body: bytes, content_type: str = "application/json") -> dict:  # type: ignore[type-arg]
    """The right credential for `body` at `source`."""
    headers = {"content-type": content_type}
    if source in ("alertmanager", "datadog"):
        headers["authorization"] = f"Bearer {SECRET}"
    elif source == "sentry":
        headers["sentry-hook-resource"] = "issue"
        headers["sentry-hook-signature"] = hmac.new(SECRET.encode(), body, "sha256").hexdigest()
    else:
        headers["x-vercel-signature"] = hmac.new(SECRET.encode(), body, "sha1").hexdigest()
    return headers


@pytest.fixture(scope="module")
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix for the whole module (the server outlives one test)."""
    prefix = f"alertgw-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def server(
    redis_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """The gateway under uvicorn in a thread, on a free port; yields (host, port)."""
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(RULES)
    names = ["alertmanager_token", "datadog_token", "sentry_client_secret", "vercel_secret"]
    secrets: dict[str, Any] = dict.fromkeys([*names, "sentry_legacy_token"], SECRET)
    app_settings = Settings(
        redis_url=redis_url,
        redis_prefix=prefix,
        rules=Path(rules),
        max_body_bytes=MAX_BODY,
        allow_unsigned=False,
        **secrets,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(app_settings, body_timeout=BODY_TIMEOUT)
    config = uvicorn.Config(app, log_level="critical", lifespan="on", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.01)
    yield sock.getsockname()
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def client(server: tuple[str, int]) -> Iterator[httpx.Client]:
    host, port = server
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as client:
        yield client


def post(client: httpx.Client, source: str, body: bytes, **headers: str) -> int:
    sent = {**signed_headers(source, body), **headers}
    response = client.post(f"/webhooks/{source}", content=body, headers=sent)
    assert response.status_code in ALLOWED, (response.status_code, response.text, body[:200])
    if response.status_code != 202:
        assert set(response.json()) == {"error"}
    return response.status_code


# --- hand-made bodies -------------------------------------------------------------------------

HAND_MADE = {
    "empty": b"",
    "null": b"null",
    "array": b"[]",
    "string": b'"alert"',
    "number": b"42",
    "malformed": b'{"version": "4", "alerts": [',
    "garbage": b"\x00\x01\x02 not json at all",
    "deeply nested arrays": b"[" * 30_000 + b"]" * 30_000,
    "deeply nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "5000-digit number": b'{"version": 4, "id": ' + b"9" * 5000 + b"}",
    "5000-digit float": b'{"alerts": [1.' + b"1" * 5000 + b"e99999]}",
    "non-UTF-8": b'{"title": "\xff\xfe\xfd caf\xe9"}',
    "UTF-16": '{"title": "x"}'.encode("utf-16"),
    "lone surrogate": b'{"title": "\\ud800"}',
    "NaN": b'{"alerts": [NaN, Infinity, -Infinity]}',
    "duplicate keys": b'{"version": "4", "version": "3"}',
}


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", list(HAND_MADE))
def test_hand_made_bodies_never_500(client: httpx.Client, source: str, name: str) -> None:
    assert post(client, source, HAND_MADE[name]) in {400, 202}


@pytest.mark.parametrize("source", SOURCES)
def test_every_truncation_of_a_valid_body_is_400(client: httpx.Client, source: str) -> None:
    body = payload(*VALID[source])
    for cut in range(1, len(body), max(1, len(body) // 40)):
        assert post(client, source, body[:cut]) == 400


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "", "json"])
def test_a_wrong_content_type_is_415(client: httpx.Client, source: str, content_type: str) -> None:
    body = payload(*VALID[source])
    assert post(client, source, body, **{"content-type": content_type}) == 415


# --- generated bodies -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "version",
                    "alerts",
                    "labels",
                    "status",
                    "id",
                    "type",
                    "data",
                    "payload",
                    "title",
                    "alert_id",
                    "action",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=st.sampled_from(SOURCES), body=st.binary(max_size=2048))
def test_random_bytes_never_500(client: httpx.Client, source: str, body: bytes) -> None:
    post(client, source, body)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=st.sampled_from(SOURCES), value=json_values)
def test_random_json_never_500(client: httpx.Client, source: str, value: object) -> None:
    post(client, source, json.dumps(value).encode())


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_valid_bodies_with_one_field_replaced_never_500(
    client: httpx.Client, source: str, data: st.DataObject
) -> None:
    document = json.loads(payload(*VALID[source]))
    node, path = document, []
    # walk down to a random place in the vendor's real payload and put junk there
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        parent, node = node, node[key]
    if path:
        parent[path[-1]] = data.draw(json_values)
    post(client, source, json.dumps(document).encode())


# --- what only a raw socket can send ----------------------------------------------------------


def raw_request(
    server: tuple[str, int], source: str, head: dict[str, str], parts: Iterator[bytes]
) -> int:
    """Send a request head and body parts by hand; return the status the gateway answered."""
    sock = socket.create_connection(server, timeout=10)
    try:
        lines = [f"POST /webhooks/{source} HTTP/1.1", f"Host: {server[0]}"]
        lines += [f"{name}: {value}" for name, value in head.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for part in parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the gateway answered and closed: read what it said
        answer = sock.recv(4096)
    finally:
        sock.close()
    return int(answer.split(b" ", 2)[1])


def credential(source: str) -> dict[str, str]:
    # signed over nothing: these bodies never complete, so the signature is never checked
    return {k: v for k, v in signed_headers(source, b"").items() if k != "content-type"}


@pytest.mark.parametrize("source", SOURCES)
def test_a_lying_content_length_times_out_with_408(server: tuple[str, int], source: str) -> None:
    head = {"Content-Type": "application/json", "Content-Length": "5000", **credential(source)}
    started = time.monotonic()
    assert raw_request(server, source, head, iter([b'{"version": "4"'])) == 408
    assert time.monotonic() - started < BODY_TIMEOUT + 2


@pytest.mark.parametrize("source", SOURCES)
def test_a_declared_oversize_is_413_before_any_body(server: tuple[str, int], source: str) -> None:
    head = {"Content-Type": "application/json", "Content-Length": str(10 * MAX_BODY)}
    assert raw_request(server, source, {**head, **credential(source)}, iter([])) == 413


def chunked(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A chunked body of `total` bytes, generated as it is sent (the test holds none of it)."""
    chunk = b"[" + b"1," * (size // 2 - 1) + b"1"
    for _ in range(total // len(chunk)):
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    yield b"0\r\n\r\n"


@pytest.mark.parametrize("source", SOURCES)
def test_a_chunked_oversize_is_413_and_memory_stays_bounded(
    server: tuple[str, int], source: str
) -> None:
    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    assert raw_request(server, source, {**head, **credential(source)}, chunked(64 << 20)) == 413
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 32, f"peak memory grew {grown_mib:.0f} MiB for a 64 MiB body"


def slowly(body: bytes, pause: float) -> Iterator[bytes]:
    for byte in range(len(body)):
        time.sleep(pause)
        yield body[byte : byte + 1]


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES)
def test_a_slow_body_is_408(server: tuple[str, int], source: str) -> None:
    body = payload(*VALID[source])
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    head |= {k: v for k, v in signed_headers(source, body).items() if k != "content-type"}
    started = time.monotonic()
    assert raw_request(server, source, head, slowly(body[:20], 0.05)) == 408
    assert time.monotonic() - started < BODY_TIMEOUT + 2


# --- after the storm --------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_valid_traffic_is_still_accepted_after_the_storm(
    client: httpx.Client, source: str, redis_url: str, prefix: str
) -> None:
    document = json.loads(payload(*VALID[source]))
    if source in ("vercel", "datadog"):  # a fresh delivery id, or it is a redelivery
        document["id"] = uuid.uuid4().hex
    body = json.dumps(document).encode()
    queued = redis.Redis.from_url(redis_url)
    before = sum(int(queued.xlen(k)) for k in stream_keys(prefix))
    response = client.post(
        f"/webhooks/{source}", content=body, headers=signed_headers(source, body)
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] >= 1
    assert sum(int(queued.xlen(k)) for k in stream_keys(prefix)) > before
    queued.close()
