"""The console's pages over real Redis and the worker code, on a virtual clock.

Escalation behaviour is checked as a timeline: the exact pages the workers send.
"""

from __future__ import annotations

import html
from datetime import timedelta
from urllib.parse import quote

import pytest
import redis
from starlette.testclient import TestClient

from core.gauges import storms_index_key
from tests.api.operator import KEY, open_incident
from tests.ui.console import API_TOKEN, console, csrf_of, log_in, pages_sent
from tests.workers.conftest import Harness
from tests.workers.helpers import entry, hand_off
from workers import jobs
from workers.notifiers.base import PermanentError

SEARCH = "search-slow:service=search"


@pytest.fixture
def ui(redis_client: redis.Redis, key_prefix: str):
    with console(redis_client, key_prefix) as parts:
        yield parts


def two_incidents(harness: Harness) -> None:
    open_incident(harness, key=SEARCH, fingerprint="am:2", severity="SEV3", service="search")
    harness.clock.advance(timedelta(minutes=1))
    open_incident(harness)  # SEV1 checkout, newer


def path(key: str, tail: str = "") -> str:
    return f"/ui/incidents/{quote(key, safe='')}{tail}"


def test_a_page_without_login_goes_to_the_login_form(ui: tuple[TestClient, Harness]):
    http, _ = ui
    answer = http.get("/ui/?severity=SEV1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2F%3Fseverity%3DSEV1"
    assert http.get("/ui/board").status_code == 303
    # a script's wrong token is refused outright, never redirected
    refused = http.get("/ui/", headers={"authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert "nope" not in refused.text


def test_login_with_the_api_token_sets_a_hardened_session_cookie(ui: tuple[TestClient, Harness]):
    http, _ = ui
    page = http.get("/ui/login")
    wrong = http.post(
        "/ui/login", data={"csrf": csrf_of(page.text), "name": "alice", "token": "guess"}
    )
    assert wrong.status_code == 401
    assert "That is not the API token." in wrong.text
    answer = http.post(
        "/ui/login",
        data={
            "csrf": csrf_of(page.text),
            "name": "alice",
            "token": API_TOKEN,
            "next": "/ui/silences",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/silences"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/ui" in cookie
    assert API_TOKEN not in answer.headers["set-cookie"]
    assert http.get("/ui/").status_code == 200


def test_login_never_redirects_off_site(ui: tuple[TestClient, Harness]):
    http, _ = ui
    page = http.get("/ui/login")
    for target in ("https://evil.example/", "//evil.example/ui/", "/api/v1/incidents"):
        answer = http.post(
            "/ui/login",
            data={"csrf": csrf_of(page.text), "name": "a", "token": API_TOKEN, "next": target},
        )
        assert answer.headers["location"] == "/ui/"


def test_a_post_without_csrf_token_is_refused(ui: tuple[TestClient, Harness]):
    http, harness = ui
    open_incident(harness)
    log_in(http)
    for data in ({}, {"csrf": "forged"}):
        answer = http.post(path(KEY, "/ack"), data=data)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    # the login form too, and the bearer token does not stand in for the CSRF token
    assert http.post("/ui/login", data={"name": "a", "token": API_TOKEN}).status_code == 403
    with_bearer = http.post(path(KEY, "/ack"), headers={"authorization": f"Bearer {API_TOKEN}"})
    assert with_bearer.status_code == 403
    assert harness.ctx.store.get(KEY).status == "open"


def test_the_board_puts_sev1_above_sev3_and_filters_from_the_url(ui: tuple[TestClient, Harness]):
    http, harness = ui
    two_incidents(harness)
    log_in(http)
    board = http.get("/ui/").text
    assert board.index("SEV1") < board.index("SEV3")
    assert "step 1 of 4 (oncall, incidents); next eng-lead at" in board
    only_sev3 = http.get("/ui/board?severity=SEV3").text
    assert "search" in only_sev3
    assert "checkout" not in only_sev3
    # the refresh keeps the filters: the fragment polls its own URL
    assert 'hx-get="/ui/board?severity=SEV3"' in only_sev3
    text = http.get("/ui/?q=search").text
    assert "1 shown of 2 known" in text


def test_the_board_names_the_targets_in_an_alert_storm(ui: tuple[TestClient, Harness]):
    http, harness = ui
    log_in(http)
    assert 'class="watch"' not in http.get("/ui/").text
    # the index the workers keep of targets in a storm (workers/escalation/storms.py)
    harness.ctx.redis.hset(storms_index_key(harness.ctx.prefix), "oncall", "1")
    board = http.get("/ui/board").text  # the part the page's polling swaps in
    assert "Alert storm for oncall" in board
    assert path("storm:oncall") in board


def test_the_board_says_why_it_is_empty(ui: tuple[TestClient, Harness]):
    http, harness = ui
    log_in(http)
    assert "No incidents: nothing has alerted" in http.get("/ui/").text
    open_incident(harness)
    assert "No incident matches these filters" in http.get("/ui/?severity=SEV4").text


def test_acknowledging_from_the_page_stops_the_escalation(ui: tuple[TestClient, Harness]):
    http, harness = ui
    open_incident(harness)
    log_in(http, "alice")
    page = http.get(path(KEY))
    answer = http.post(path(KEY, "/ack"), data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 303
    shown = http.get(answer.headers["location"]).text
    assert "Acknowledged by alice (UI)" in shown
    assert "stopped (acknowledged)" in shown
    harness.clock.advance(timedelta(hours=2))
    harness.run_due()
    # PagerDuty hears of the acknowledgement; nobody else is paged
    assert pages_sent(harness) == [("trigger", "oncall"), ("acknowledge", "oncall")]


def test_unacknowledged_the_next_step_goes_out(ui: tuple[TestClient, Harness]):
    # the control for the test above: without the click, eng-lead is paged at +5m
    _http, harness = ui
    open_incident(harness)
    harness.clock.advance(timedelta(minutes=5))
    harness.run_due()
    assert pages_sent(harness) == [("trigger", "oncall"), ("trigger", "eng-lead")]


def test_a_silence_made_from_an_incident_mutes_its_next_step(ui: tuple[TestClient, Harness]):
    http, harness = ui
    open_incident(harness)
    log_in(http, "bob")
    incident_page = http.get(path(KEY)).text
    link = incident_page.split('href="/ui/silences?', 1)[1].split('"', 1)[0]
    editor = http.get("/ui/silences?" + link.replace("&amp;", "&")).text
    assert "alertname=&#34;HighErrorRate&#34;" in editor  # pre-filled matchers
    assert "Would mute 1 live incident(s)" in editor
    matchers = 'alertname="HighErrorRate"\nservice="checkout"'
    created = http.post(
        "/ui/silences",
        data={"csrf": csrf_of(editor), "matchers": matchers, "duration": "1h", "comment": "deploy"},
    )
    assert created.status_code == 303
    listed = http.get("/ui/silences").text
    assert "Active (1)" in listed
    assert "deploy" in listed
    harness.clock.advance(timedelta(minutes=5))
    harness.run_due()
    assert pages_sent(harness) == [("trigger", "oncall")]
    kinds = [e.kind for e in harness.ctx.store.timeline(KEY)]
    assert "silenced" in kinds


def test_expiring_the_silence_lets_the_escalation_resume(ui: tuple[TestClient, Harness]):
    http, harness = ui
    open_incident(harness)
    log_in(http)
    editor = http.get("/ui/silences").text
    http.post(
        "/ui/silences",
        data={"csrf": csrf_of(editor), "matchers": 'service="checkout"', "comment": "x"},
    )
    harness.clock.advance(timedelta(minutes=5))
    harness.run_due()
    assert pages_sent(harness) == [("trigger", "oncall")]
    silence = harness.ctx.redis.hkeys(f"{harness.ctx.prefix}silences")[0].decode()
    listed = http.get("/ui/silences").text
    expired = http.post(f"/ui/silences/{silence}/expire", data={"csrf": csrf_of(listed)})
    assert expired.status_code == 303
    assert "Expired (1)" in http.get("/ui/silences").text
    harness.clock.advance(timedelta(minutes=10))
    harness.run_due()
    assert pages_sent(harness) == [("trigger", "oncall"), ("trigger", "eng-lead")]


def test_the_silence_preview_names_a_bad_matcher(ui: tuple[TestClient, Harness]):
    http, harness = ui
    two_incidents(harness)
    log_in(http)
    bad = http.get("/ui/silences/preview", params={"matchers": "not a matcher"}).text
    assert 'class="error"' in bad
    sev3 = http.get("/ui/silences/preview", params={"matchers": 'severity="SEV3"'}).text
    assert "Would mute 1 live incident(s)" in sev3
    assert "search" in sev3


def test_resolve_and_note_from_the_page(ui: tuple[TestClient, Harness]):
    http, harness = ui
    open_incident(harness)
    log_in(http, "carol")
    csrf = csrf_of(http.get(path(KEY)).text)
    assert (
        http.post(path(KEY, "/notes"), data={"csrf": csrf, "note": "rolling back"}).status_code
        == 303
    )
    assert http.post(path(KEY, "/resolve"), data={"csrf": csrf}).status_code == 303
    shown = http.get(path(KEY)).text
    assert "Note from carol (UI): rolling back" in shown
    assert "Resolved by carol (UI)" in shown
    again = http.post(path(KEY, "/ack"), data={"csrf": csrf})
    assert again.status_code == 409
    harness.run_due()
    assert pages_sent(harness) == [("trigger", "oncall"), ("resolve", "oncall")]


def test_replaying_a_dead_letter_from_the_page_pages_once(ui: tuple[TestClient, Harness]):
    http, harness = ui
    harness.pagerduty.failures.append(PermanentError("HTTP 400"))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(key=KEY))
    harness.run_due()
    (letter,) = harness.ctx.dead_letters.list()
    log_in(http)
    listed = http.get("/ui/dead-letters").text
    assert f'action="/ui/dead-letters/{letter.id}/replay"' in listed
    unknown = http.post("/ui/dead-letters/nope/replay", data={"csrf": csrf_of(listed)})
    assert unknown.status_code == 404
    asked = http.post(f"/ui/dead-letters/{letter.id}/replay", data={"csrf": csrf_of(listed)})
    assert (asked.status_code, asked.headers["location"]) == (303, "/ui/dead-letters?done=replay")
    assert "replay requested" in http.get("/ui/dead-letters?done=replay").text
    assert pages_sent(harness) == []  # the gateway runs no job: a worker's refresher does
    assert jobs.replay_requested(harness.ctx) == 1
    harness.run_queued()
    assert pages_sent(harness) == [("trigger", "oncall")]
    assert "No dead letters" in http.get("/ui/dead-letters").text


def test_an_unknown_incident_is_a_404_page(ui: tuple[TestClient, Harness]):
    http, _ = ui
    log_in(http)
    answer = http.get(path("no-such:thing"))
    assert answer.status_code == 404
    assert "no incident" in answer.text


def test_the_playground_runs_a_shipped_example(ui: tuple[TestClient, Harness]):
    http, _ = ui
    log_in(http)
    form = http.get("/ui/playground?example=alertmanager-checkout-firing.json").text
    assert "HighErrorRate" in form or "checkout" in form
    payload = form.split('name="payload"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    answer = http.post(
        "/ui/playground",
        data={"csrf": csrf_of(form), "source": "alertmanager", "payload": html.unescape(payload)},
    )
    assert answer.status_code == 200
    assert "Result" in answer.text
    assert "SEV3" in answer.text
    assert "+5m: eng-lead" in answer.text
    broken = http.post(
        "/ui/playground", data={"csrf": csrf_of(form), "source": "alertmanager", "payload": "{"}
    )
    assert "body is not valid JSON" in broken.text


def test_secrets_are_never_rendered(ui: tuple[TestClient, Harness]):
    http, harness = ui
    open_incident(harness)
    log_in(http)
    for url in ("/ui/", path(KEY), "/ui/silences", "/ui/playground", "/ui/dead-letters"):
        text = http.get(url).text
        for secret in (API_TOKEN, "rk-oncall", "rk-lead", "rk-cto"):
            assert secret not in text, (url, secret)


def test_loopback_without_a_token_needs_no_login(redis_client: redis.Redis, key_prefix: str):
    with console(redis_client, key_prefix, api_token=None, allow_unsigned=True) as (http, _):
        answer = http.get("/ui/")
        assert answer.status_code == 200
        assert "local" in answer.text


def test_no_token_and_not_loopback_refuses_everyone(redis_client: redis.Redis, key_prefix: str):
    with console(redis_client, key_prefix, api_token=None) as (http, _):
        answer = http.get("/ui/")
        assert answer.status_code == 401
        assert "ALERTGW_API_TOKEN is not set" in answer.text


def test_a_trusted_proxy_header_names_the_user(redis_client: redis.Redis, key_prefix: str):
    with console(redis_client, key_prefix, ui_user_header="X-Forwarded-User") as (http, harness):
        open_incident(harness)
        assert http.get("/ui/").status_code == 401  # opted in: no header, no entry
        who = {"x-forwarded-user": "dave"}
        page = http.get(path(KEY), headers=who)
        assert page.status_code == 200
        http.post(path(KEY, "/ack"), data={"csrf": csrf_of(page.text)}, headers=who)
        assert harness.ctx.store.get(KEY).lead == "dave (UI)"


def test_acknowledged_then_refiring_pages_nobody_and_counts_the_alert(
    ui: tuple[TestClient, Harness],
):
    http, harness = ui
    open_incident(harness)
    log_in(http, "alice")
    http.post(path(KEY, "/ack"), data={"csrf": csrf_of(http.get(path(KEY)).text)})
    harness.clock.advance(timedelta(minutes=1))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(fingerprint="am:9", key=KEY))
    harness.clock.advance(timedelta(minutes=30))
    harness.run_due()
    assert pages_sent(harness) == [("trigger", "oncall"), ("acknowledge", "oncall")]
    row = http.get("/ui/board").text.split('<tr class="row', 2)[1]
    assert 'data-label="Alerts">2<' in row
    assert "acknowledged" in row
    assert "alice (UI)" in row


def test_a_raised_incident_moves_up_the_board(ui: tuple[TestClient, Harness]):
    http, harness = ui
    open_incident(harness, key=SEARCH, fingerprint="am:2", severity="SEV3", service="search")
    harness.clock.advance(timedelta(minutes=1))
    open_incident(harness, key="api-slow:service=api", fingerprint="am:3", severity="SEV2")
    log_in(http)
    before = http.get("/ui/board").text
    assert before.index("api-slow") < before.index("search-slow")
    raised = entry(fingerprint="am:4", severity="SEV1", key=SEARCH, service="search")
    hand_off(harness.ctx.redis, harness.ctx.prefix, raised)
    harness.run_due()
    after = http.get("/ui/board").text
    assert after.index("search-slow") < after.index("api-slow")
    shown = http.get(path(SEARCH)).text
    assert "SEV3 -&gt; SEV1" in shown
