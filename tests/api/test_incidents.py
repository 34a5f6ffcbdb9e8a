"""`/api/v1/incidents` over real Redis and the workers' store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import redis
from starlette.testclient import TestClient

from core.handoff import HandoffEntry
from core.models import Alert, Severity
from core.rules.model import Classification
from tests.api.operator import KEY, bearer, open_incident, operator_app, status
from tests.workers.conftest import Harness
from tests.workers.helpers import alert, entry, hand_off

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


def test_show_has_the_current_state_after_a_raise(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    slow = alert(level="warning", title="Checkout slow", summary="p99 above 1s")
    down = alert(level="critical", title="Checkout down", summary="5xx above 50%")
    hand_off(harness.ctx.redis, harness.ctx.prefix, decided(slow, "SEV3"))
    harness.run_due()
    harness.clock.advance(timedelta(seconds=2))
    down = down.model_copy(update={"received_at": harness.clock.now})
    hand_off(harness.ctx.redis, harness.ctx.prefix, decided(down, "SEV1"))
    harness.run_due()
    shown = http.get(path(KEY), headers=bearer()).json()
    assert (shown["severity"], shown["title"], shown["summary"]) == (
        "SEV1",
        "Checkout down",
        "5xx above 50%",
    )
    assert (shown["labels"]["level"], shown["labels"]["title"]) == ("critical", "Checkout down")
    assert shown["first_seen_at"] == shown["received_at"] == "2026-03-02T10:00:00Z"
    listed = http.get("/api/v1/incidents", headers=bearer()).json()["incidents"]
    assert [(i["title"], i["first_seen_at"]) for i in listed] == [
        ("Checkout down", "2026-03-02T10:00:00Z")
    ]


def decided(firing: Alert, severity: Severity) -> HandoffEntry:
    rule = "checkout-down" if severity == "SEV1" else "checkout-slow"
    decision = Classification(severity=severity, rule=rule, escalation="standard", incident_key=KEY)
    return HandoffEntry(alert=firing, classification=decision)


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
        "/api/v1/heartbeats",
        "/api/v1/heartbeats/{name}/pause",
        "/api/v1/heartbeats/{name}/resume",
    }
    schemas = document["components"]["schemas"]
    assert schemas["SilenceIn"]["required"] == ["matchers", "comment", "created_by"]
    assert "timeline" in schemas["IncidentDetail"]["properties"]
    created = document["paths"]["/api/v1/silences"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/SilenceOut")


# the list: most severe first, then newest, a page at a time


def test_300_incidents_do_not_bury_the_one_sev1(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    for n in range(300):
        key = f"noise:am:{n}"
        hand_off(harness.ctx.redis, harness.ctx.prefix, entry(f"am:{n}", severity="SEV3", key=key))
    harness.intake.drain()
    harness.clock.advance(timedelta(minutes=1))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry("am:sev1", severity="SEV1", key=KEY))
    harness.intake.drain()
    harness.clock.advance(timedelta(minutes=1))  # the newest of all is a SEV4
    sev4 = entry("am:sev4", severity="SEV4", key="chat:x")
    hand_off(harness.ctx.redis, harness.ctx.prefix, sev4)
    harness.intake.drain()
    first = http.get("/api/v1/incidents?limit=10", headers=bearer()).json()
    assert first["incidents"][0]["key"] == KEY
    assert [i["severity"] for i in first["incidents"]] == ["SEV1"] + ["SEV3"] * 9
    assert first["total"] == 302
    assert first["next_cursor"]
    default = http.get("/api/v1/incidents", headers=bearer()).json()
    assert (len(default["incidents"]), default["total"]) == (100, 302)


def test_the_cursor_walks_every_incident_once_in_order(app: tuple[TestClient, Harness, Any]):
    http, harness, _ = app
    for n in range(25):
        severity = ("SEV1", "SEV2", "SEV3", "SEV4")[n % 4]
        e = entry(f"am:{n}", severity=severity, key=f"r{n}:am:{n}")  # type: ignore[arg-type]
        hand_off(harness.ctx.redis, harness.ctx.prefix, e)
        harness.clock.advance(timedelta(seconds=30))
        harness.intake.drain()
    seen: list[tuple[str, str]] = []
    cursor = ""
    while True:
        answer = http.get(f"/api/v1/incidents?limit=7&cursor={cursor}", headers=bearer()).json()
        assert answer["total"] == 25
        seen += [(i["severity"], i["opened_at"]) for i in answer["incidents"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 25
    assert seen == sorted(seen, key=lambda s: (s[0], [-ord(c) for c in s[1]]))
    assert [s for s, _ in seen[:7]] == ["SEV1"] * 7


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=ten", "limit=-5"])
def test_a_limit_outside_1_to_1000_is_a_400(app: tuple[TestClient, Harness, Any], query: str):
    http, _, _ = app
    answer = http.get(f"/api/v1/incidents?{query}", headers=bearer())
    assert answer.status_code == 400
    value = query.split("=", 1)[1]
    assert answer.json() == {
        "error": f"limit: must be a whole number from 1 to 1000, not {value!r}"
    }


def test_a_cursor_this_api_did_not_give_is_a_400(app: tuple[TestClient, Harness, Any]):
    http, _, _ = app
    for bad in ("nonsense!", "bm9wZQ", "WzEsMl0"):  # not base64; "nope"; [1,2]
        answer = http.get(f"/api/v1/incidents?cursor={bad}", headers=bearer())
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("cursor: not a cursor from this API")


def test_the_last_page_has_no_cursor_and_an_empty_list_says_zero(
    app: tuple[TestClient, Harness, Any],
):
    http, harness, _ = app
    empty = http.get("/api/v1/incidents", headers=bearer()).json()
    assert empty == {"incidents": [], "total": 0, "next_cursor": None}
    open_incident(harness)
    one = http.get("/api/v1/incidents?limit=1", headers=bearer()).json()
    assert (one["total"], one["next_cursor"]) == (1, None)
    assert one["incidents"][0]["auto_resolve_seconds"] is None
    assert one["incidents"][0]["last_alert_at"].startswith("2026-03-02T10:00")
