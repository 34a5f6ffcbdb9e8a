"""`/api/v1/incidents` over real Redis and the workers' store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import redis
from starlette.testclient import TestClient

from tests.api.operator import KEY, bearer, open_incident, operator_app, status
from tests.workers.conftest import Harness

SLASHED = "deploy-failed:project=web/app,target=production"
HASHED = "very-long-rule:#0123456789abcdef0123456789abcdef"


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str):
    with operator_app(redis_client, key_prefix) as parts:
        yield parts


def path(key: str, tail: str = "") -> str:
    return f"/api/v1/incidents/{quote(key, safe='')}{tail}"


def test_list_filters_by_status_and_severity(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    open_incident(harness, key="search-slow:service=search", fingerprint="am:2", severity="SEV3")
    harness.ctx.store.acknowledge("search-slow:service=search", "jane", "", harness.clock.now)

    every = http.get("/api/v1/incidents", headers=bearer()).json()["incidents"]
    assert {i["key"] for i in every} == {KEY, "search-slow:service=search"}
    open_only = http.get("/api/v1/incidents?status=open", headers=bearer()).json()
    assert [i["key"] for i in open_only["incidents"]] == [KEY]
    sev3 = http.get("/api/v1/incidents?severity=SEV3", headers=bearer()).json()
    assert [(i["key"], i["status"]) for i in sev3["incidents"]] == [
        ("search-slow:service=search", "acknowledged")
    ]
    answer = http.get("/api/v1/incidents?severity=SEV9", headers=bearer())
    assert answer.status_code == 400
    assert answer.json() == {"error": "severity: must be one of SEV1, SEV2, SEV3, SEV4, not 'SEV9'"}


def test_show_has_the_timeline_and_alerts(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    shown = http.get(path(KEY), headers=bearer()).json()
    assert shown["key"] == KEY
    assert shown["severity"] == "SEV1"
    assert shown["alerts"] == [{"fingerprint": "am:1", "status": "firing"}]
    assert shown["timeline"][0]["kind"] == "opened"
    unknown = http.get(path("nope:x"), headers=bearer())
    assert unknown.status_code == 404
    assert "no incident 'nope:x'" in unknown.json()["error"]


@pytest.mark.parametrize("key", [SLASHED, HASHED], ids=["slash", "hash"])
def test_keys_with_slashes_and_hashes_work_encoded(app: tuple[TestClient, Harness, Any], key: str):
    http, harness, _ = app
    open_incident(harness, key=key)
    assert http.get(path(key), headers=bearer()).json()["key"] == key
    assert http.post(path(key, "/ack"), headers=bearer()).json()["status"] == "acknowledged"
    if "/" in key:  # a raw slash is accepted too
        assert http.get(f"/api/v1/incidents/{key}", headers=bearer()).json()["key"] == key


def test_ack_then_resolve_then_conflicts(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    acked = http.post(path(KEY, "/ack"), headers=bearer(), json={"by": "jane", "note": "on it"})
    assert acked.status_code == 200
    assert (acked.json()["status"], acked.json()["lead"]) == ("acknowledged", "jane")
    again = http.post(path(KEY, "/ack"), headers=bearer())
    assert again.status_code == 409
    assert again.json() == {
        "error": f"incident {KEY!r} is acknowledged; acknowledge needs an open incident"
    }
    resolved = http.post(path(KEY, "/resolve"), headers=bearer())
    assert (resolved.status_code, resolved.json()["resolved_by"]) == (200, "api")
    assert http.post(path(KEY, "/resolve"), headers=bearer()).status_code == 409
    assert http.post(path("nope:x", "/resolve"), headers=bearer()).status_code == 404
    harness.run_due()
    assert ("resolve", "oncall") in harness.pagerduty.actions()
    texts = [e.text for e in harness.ctx.store.timeline(KEY)]
    assert "jane: on it" in texts


def test_api_ack_stops_the_next_escalation_step(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    http.post(path(KEY, "/ack"), headers=bearer())
    harness.clock.advance(timedelta(minutes=30))
    harness.run_due()
    assert ("trigger", "eng-lead") not in harness.pagerduty.actions()


def test_notes_go_to_the_timeline_and_the_thread(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    open_incident(harness)
    answer = http.post(path(KEY, "/notes"), headers=bearer(), json={"by": "jane", "note": "db"})
    assert answer.status_code == 201
    harness.run_due()
    assert ("note", "jane: db") in [(e.kind, e.text) for e in harness.ctx.store.timeline(KEY)]
    assert ("note", "incidents") in harness.slack.actions()
    empty = http.post(path(KEY, "/notes"), headers=bearer(), json={"by": "jane"})
    assert empty.status_code == 400
    assert empty.json()["error"].startswith("note: Field required")


@pytest.mark.parametrize(
    ("body", "content_type", "code", "message"),
    [
        (b'{"by": ""}', "application/json", 400, "by: String should have at least 1 character"),
        (b'{"who": "x"}', "application/json", 400, "who: Extra inputs are not permitted"),
        (b"{", "application/json", 400, "body is not valid JSON"),
        (b"by=x", "application/x-www-form-urlencoded", 415, "application/json"),
    ],
)
def test_bad_bodies_are_clear_json_errors(
    app: tuple[TestClient, Harness, Any], body: bytes, content_type: str, code: int, message: str
):
    http, harness, _ = app
    open_incident(harness)
    headers = {**bearer(), "content-type": content_type}
    answer = http.post(path(KEY, "/ack"), headers=headers, content=body)
    assert answer.status_code == code
    assert message in answer.json()["error"]
    assert status(harness) == "open"


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"authorization": "Basic x"}])
def test_every_route_needs_the_token(app: tuple[TestClient, Harness, Any], headers: dict):
    http, harness, _ = app
    open_incident(harness)
    for method, url in [
        ("GET", "/api/v1/incidents"),
        ("GET", path(KEY)),
        ("POST", path(KEY, "/ack")),
        ("POST", path(KEY, "/resolve")),
        ("POST", path(KEY, "/notes")),
        ("GET", "/api/v1/silences"),
        ("POST", "/api/v1/silences"),
        ("DELETE", "/api/v1/silences/x"),
    ]:
        answer = http.request(method, url, headers=headers)
        assert answer.status_code == 401, (method, url)
        assert answer.json() == {"error": "invalid or missing credentials"}
    assert status(harness) == "open"


def test_an_unset_token_refuses_and_names_the_variable(redis_client: redis.Redis, key_prefix: str):
    with operator_app(redis_client, key_prefix, api_token=None) as (http, _, _):
        answer = http.get("/api/v1/incidents", headers=bearer())
        assert answer.status_code == 401
        assert "ALERTGW_API_TOKEN" in answer.json()["error"]


def test_openapi_document_describes_the_api(app: tuple[TestClient, Harness, Any]):
    http, _, _ = app
    document = http.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/api/v1/incidents",
        "/api/v1/incidents/{key}",
        "/api/v1/incidents/{key}/ack",
        "/api/v1/incidents/{key}/resolve",
        "/api/v1/incidents/{key}/notes",
        "/api/v1/incidents/{key}/postmortem",
        "/api/v1/incidents/{key}/postmortem.md",
        "/api/v1/incidents/{key}/updates",
        "/api/v1/silences",
        "/api/v1/silences/{id}",
    }
    schemas = document["components"]["schemas"]
    assert schemas["SilenceIn"]["required"] == ["matchers", "comment", "created_by"]
    assert "timeline" in schemas["IncidentDetail"]["properties"]
    created = document["paths"]["/api/v1/silences"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/SilenceOut")
