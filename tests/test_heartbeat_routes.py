"""`POST /heartbeats/<name>`, `/api/v1/heartbeats` and `alertgw heartbeats`, over HTTP."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.applications import Starlette
from starlette.testclient import TestClient

from alertgw import heartbeats_cli
from core.reload import LivePolicy
from core.settings import Settings
from core.silences import SilenceStore
from gateway.api.services import Services
from gateway.heartbeat_routes import HeartbeatRoutes
from tests.api.operator import API_TOKEN, bearer, served
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.test_heartbeats import rules, watchdog
from workers.intake import heartbeat_checks

CRON = watchdog(name="nightly-export", from_alert=None, tokens=("cron-1", "cron-2"))
OPEN = watchdog(name="open-door", from_alert=None, tokens=())


@dataclasses.dataclass
class App:
    http: TestClient
    harness: Harness


def build(client: redis.Redis, prefix: str, **settings: Any) -> tuple[Starlette, Harness]:
    policy = rules(watchdog(), CRON, OPEN)
    harness = make_harness(client, prefix, policy)
    config = Settings(redis_prefix=prefix, api_token=API_TOKEN, **settings)
    store = harness.ctx.store
    services = Services(config, client, store, SilenceStore(client, prefix), clock=harness.clock)
    live = LivePolicy(Path("unused"), loader=lambda _: policy)
    return Starlette(routes=HeartbeatRoutes(services, live).routes()), harness


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str) -> Iterator[App]:
    starlette, harness = build(redis_client, key_prefix)
    try:
        with TestClient(starlette) as http:
            yield App(http, harness)
    finally:
        _forget_jobs(harness)


def listed(app: App) -> dict[str, dict[str, Any]]:
    answer = app.http.get("/api/v1/heartbeats", headers=bearer())
    assert answer.status_code == 200
    return {h["name"]: h for h in answer.json()["heartbeats"]}


def test_a_ping_with_its_token_is_a_beat(app: App):
    answer = app.http.post("/heartbeats/nightly-export", headers=bearer("cron-2"))
    assert answer.status_code == 202
    assert answer.json() == {
        "heartbeat": "nightly-export",
        "outcome": "armed",
        "next_deadline": "2026-03-02T10:03:00+00:00",
    }
    app.harness.clock.advance(timedelta(minutes=1))
    again = app.http.post("/heartbeats/nightly-export?token=cron-1")  # a URL-only tool
    assert again.json()["outcome"] == "beat"
    beat = listed(app)["nightly-export"]
    assert beat["state"] == "healthy"
    assert beat["last_beat"] == "2026-03-02T10:01:00Z"
    assert beat["next_deadline"] == "2026-03-02T10:04:00Z"
    assert (beat["period"], beat["grace"]) == ("1m", "2m")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_only_post_feeds_a_heartbeat(app: App, method: str):
    answer = app.http.request(method, "/heartbeats/nightly-export?token=cron-1")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    if method != "HEAD":
        assert answer.json() == {"error": "a heartbeat is fed by POST only"}
    assert listed(app)["nightly-export"]["state"] == "waiting"


@pytest.mark.parametrize(
    ("path", "headers", "status", "error"),
    [
        ("/heartbeats/nightly-export", {}, 401, "invalid or missing credentials"),
        ("/heartbeats/nightly-export?token=nope", {}, 401, "invalid or missing credentials"),
        ("/heartbeats/nightly-export", bearer("nope"), 401, "invalid or missing credentials"),
        ("/heartbeats/watchdog", bearer("cron-1"), 401, "invalid or missing credentials"),
        (
            "/heartbeats/open-door",
            {},
            401,
            "heartbeat 'open-door' has no token; set `token` in its rules",
        ),
        ("/heartbeats/nope", bearer("cron-1"), 404, "no heartbeat 'nope' in the rules"),
    ],
)
def test_bad_pings_are_refused_and_record_nothing(
    app: App, path: str, headers: dict[str, str], status: int, error: str
):
    answer = app.http.post(path, headers=headers)
    assert (answer.status_code, answer.json()) == (status, {"error": error})
    assert {h["state"] for h in listed(app).values()} == {"waiting"}


def test_a_heartbeat_without_token_takes_pings_only_when_unsigned_is_allowed(
    redis_client: redis.Redis, key_prefix: str
):
    starlette, harness = build(redis_client, key_prefix, allow_unsigned=True)
    try:
        with TestClient(starlette) as http:
            assert http.post("/heartbeats/open-door").status_code == 202
    finally:
        _forget_jobs(harness)


def test_a_ping_after_a_miss_resolves_the_incident(app: App):
    h = app.harness
    app.http.post("/heartbeats/nightly-export", headers=bearer("cron-1"))
    h.clock.advance(timedelta(minutes=3))
    heartbeat_checks.check(h.ctx)
    h.run_due()
    assert h.pagerduty.actions() == [("trigger", "oncall")]
    assert listed(app)["nightly-export"]["state"] == "missed"
    assert listed(app)["nightly-export"]["missed_since"] == "2026-03-02T10:03:00Z"
    h.clock.advance(timedelta(minutes=1))
    restored = app.http.post("/heartbeats/nightly-export", headers=bearer("cron-1"))
    assert restored.json()["outcome"] == "restored"
    h.run_due()
    assert h.pagerduty.actions() == [("trigger", "oncall"), ("resolve", "oncall")]
    incident = h.ctx.store.get("heartbeat:nightly-export")
    assert incident is not None
    assert incident.status == "resolved"


def test_the_api_lists_pauses_and_resumes(app: App):
    assert app.http.get("/api/v1/heartbeats").status_code == 401
    app.http.post("/heartbeats/nightly-export", headers=bearer("cron-1"))
    assert list(listed(app)) == ["nightly-export", "open-door", "watchdog"]
    paused = app.http.post(
        "/api/v1/heartbeats/nightly-export/pause", headers=bearer(), json={"by": "jane"}
    )
    assert paused.status_code == 200
    body = paused.json()
    assert (body["state"], body["paused_by"], body["next_deadline"]) == ("paused", "jane", None)
    assert body["paused_at"] == "2026-03-02T10:00:00Z"
    app.harness.clock.advance(timedelta(hours=2))
    heartbeat_checks.check(app.harness.ctx)
    app.harness.run_due()
    assert app.harness.pagerduty.actions() == []
    resumed = app.http.post("/api/v1/heartbeats/nightly-export/resume", headers=bearer())
    assert resumed.json()["state"] == "healthy"
    assert resumed.json()["next_deadline"] == "2026-03-02T12:03:00Z"
    missing = app.http.post("/api/v1/heartbeats/nope/pause", headers=bearer())
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "no heartbeat 'nope' in the rules"},
    )
    bad = app.http.post("/api/v1/heartbeats/watchdog/pause", headers=bearer(), json={"who": 1})
    assert bad.status_code == 400


def test_redis_down_is_a_503_the_sender_retries(key_prefix: str):
    # nothing listens on port 9 (discard); no retries: the answer is what is tested
    client = redis.Redis(
        host="127.0.0.1", port=9, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    policy = rules(CRON)
    config = Settings(redis_prefix=key_prefix, api_token=API_TOKEN)
    services = Services(config, client, None, SilenceStore(client, key_prefix))  # type: ignore[arg-type]
    live = LivePolicy(Path("unused"), loader=lambda _: policy)
    with TestClient(Starlette(routes=HeartbeatRoutes(services, live).routes())) as http:
        answer = http.post("/heartbeats/nightly-export", headers=bearer("cron-1"))
        assert answer.status_code == 503
        assert "cannot reach Redis" in answer.json()["error"]
        assert "cron-1" not in answer.text


def run_cli(url: str, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="alertgw")
    heartbeats_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["heartbeats", "--url", url, *argv])
    status: int = args.func(args, Settings(api_token=API_TOKEN))  # type: ignore[arg-type]
    return status


def test_cli_lists_pauses_and_resumes_over_http(app: App, capsys: pytest.CaptureFixture[str]):
    app.http.post("/heartbeats/nightly-export", headers=bearer("cron-1"))
    with served(app.http.app) as url:
        assert run_cli(url, "list") == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == (
            "nightly-export  healthy  SEV2  every 1m + 2m  last beat 2026-03-02T10:00:00Z, "
            "next deadline 2026-03-02T10:03:00Z"
        )
        assert lines[2].startswith("watchdog  waiting  SEV2  every 1m + 2m  last beat never")
        assert run_cli(url, "pause", "nightly-export", "-a", "jane") == 0
        assert "paused at 2026-03-02T10:00:00Z by jane" in capsys.readouterr().out
        assert run_cli(url, "resume", "nightly-export") == 0
        assert capsys.readouterr().out.startswith("nightly-export  healthy")
        assert run_cli(url, "pause", "nope") == 1
        assert "404: no heartbeat 'nope' in the rules" in capsys.readouterr().err


def test_the_openapi_document_describes_the_heartbeat_api():
    from gateway.api.openapi import openapi_document

    paths = openapi_document()["paths"]
    assert set(paths["/api/v1/heartbeats"]) == {"get"}
    assert set(paths["/api/v1/heartbeats/{name}/pause"]) == {"post"}
    assert set(paths["/api/v1/heartbeats/{name}/resume"]) == {"post"}
    schemas = openapi_document()["components"]["schemas"]
    assert {"HeartbeatOut", "HeartbeatList", "PauseIn"} <= set(schemas)
