"""The fakes answer like the vendors, follow their script, and record what they got."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.fakes.vendors import TEST_BOT_TOKEN, FakePagerDuty, FakeSlack


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, _decode(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read()), error.headers


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


TRIGGER = {
    "routing_key": "r" * 32,
    "event_action": "trigger",
    "dedup_key": "rule:svc",
    "payload": {"summary": "[SEV1] svc: down", "source": "svc", "severity": "critical"},
}
BEARER = {"Authorization": f"Bearer {TEST_BOT_TOKEN}"}


def test_pagerduty_accepts_a_valid_event_and_records_it(fake_pagerduty: FakePagerDuty) -> None:
    status, body, _ = post(f"{fake_pagerduty.events_url}/v2/enqueue", TRIGGER)
    assert status == 202
    assert body == {"status": "success", "message": "Event processed", "dedup_key": "rule:svc"}
    assert fake_pagerduty.events(action="trigger") == [TRIGGER]
    assert fake_pagerduty.events(action="resolve") == []


def test_pagerduty_rejects_an_invalid_event_with_400(fake_pagerduty: FakePagerDuty) -> None:
    status, body, _ = post(f"{fake_pagerduty.events_url}/v2/enqueue", {"event_action": "resolve"})
    assert status == 400
    assert "'routing_key' is missing or blank." in body["errors"]
    assert "'dedup_key' is missing or blank." in body["errors"]
    assert fake_pagerduty.events() == []
    assert len(fake_pagerduty.events(accepted=False)) == 1


def test_change_events_are_accepted(fake_pagerduty: FakePagerDuty) -> None:
    change = {"routing_key": "r" * 32, "payload": {"summary": "deployed"}}
    status, _, _ = post(f"{fake_pagerduty.events_url}/v2/change/enqueue", change)
    assert status == 202


def test_the_script_runs_in_order_then_answers_normally(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.respond(429, retry_after=7)
    fake_pagerduty.respond(500, times=2)
    url = f"{fake_pagerduty.events_url}/v2/enqueue"
    first = post(url, TRIGGER)
    assert (first[0], first[2]["Retry-After"]) == (429, "7")
    assert [post(url, TRIGGER)[0] for _ in range(3)] == [500, 500, 202]
    assert [r.status for r in fake_pagerduty.requests] == [429, 500, 500, 202]


def test_reset_closes_the_connection_without_an_answer(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.reset()
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        post(f"{fake_pagerduty.events_url}/v2/enqueue", TRIGGER)
    assert [r.status for r in fake_pagerduty.requests] == [None]


def test_delay_holds_the_answer_past_a_client_timeout(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.delay(5)
    request = urllib.request.Request(
        f"{fake_pagerduty.events_url}/v2/enqueue", data=json.dumps(TRIGGER).encode()
    )
    request.add_header("Content-Type", "application/json")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        urllib.request.urlopen(request, timeout=0.3)
    assert time.monotonic() - started < 2


def test_wait_for_returns_once_enough_requests_arrived(fake_pagerduty: FakePagerDuty) -> None:
    post(f"{fake_pagerduty.events_url}/v2/enqueue", TRIGGER)
    assert len(fake_pagerduty.wait_for(1, timeout=1)) == 1
    with pytest.raises(AssertionError, match=r"expected 2 requests within 0\.1s, got 1"):
        fake_pagerduty.wait_for(2, timeout=0.1)


def test_slack_posts_get_increasing_ts_and_updates_need_a_known_message(
    fake_slack: FakeSlack,
) -> None:
    url = fake_slack.api_url
    _, first, _ = post(url + "chat.postMessage", {"channel": "#incidents", "text": "a"}, BEARER)
    _, second, _ = post(url + "chat.postMessage", {"channel": "#incidents", "text": "b"}, BEARER)
    assert first["ok"]
    assert second["ok"]
    assert first["channel"] == second["channel"] == FakeSlack.channel_id("#incidents")
    assert float(second["ts"]) > float(first["ts"])
    update = {"channel": first["channel"], "ts": first["ts"], "text": "a2"}
    assert post(url + "chat.update", update, BEARER)[1]["ok"] is True
    _, missing, _ = post(url + "chat.update", {**update, "ts": "1.000000"}, BEARER)
    assert missing == {"ok": False, "error": "message_not_found"}
    assert [m["text"] for m in fake_slack.messages(channel="#incidents")] == ["a", "b"]
    assert fake_slack.updates(ts=first["ts"]) == [update]


def test_slack_refuses_a_wrong_token_and_unknown_channels(fake_slack: FakeSlack) -> None:
    fake_slack.unknown_channels.add("#gone")
    url = fake_slack.api_url + "chat.postMessage"
    wrong = {"Authorization": "Bearer xoxb-wrong"}
    assert post(url, {"channel": "#x", "text": "a"}, wrong)[1]["error"] == "invalid_auth"
    assert post(url, {"channel": "#gone", "text": "a"}, BEARER)[1]["error"] == "channel_not_found"
    assert fake_slack.messages() == []
    assert fake_slack.errors() == ["invalid_auth", "channel_not_found"]


def test_slack_incoming_webhook(fake_slack: FakeSlack) -> None:
    assert post(fake_slack.webhook_url, {"text": "hi"})[:2] == (200, "ok")
    assert post(fake_slack.webhook_url, {})[:2] == (400, "no_text")
    assert post(f"{fake_slack.url}/services/T1/B1/nope", {"text": "hi"})[:2] == (404, "no_service")
    assert fake_slack.webhook_posts() == [{"text": "hi"}]


def test_pagerduty_enforces_its_limit_per_routing_key_over_60_seconds() -> None:
    now = [1000.0]
    with FakePagerDuty(limit_per_minute=3, clock=lambda: now[0]) as pd:
        url = f"{pd.events_url}/v2/enqueue"
        assert [post(url, TRIGGER)[0] for _ in range(3)] == [202, 202, 202]
        status, body, headers = post(url, TRIGGER)
        assert status == 429
        assert body["status"] == "throttle event"
        assert headers.get("Retry-After") is None  # PagerDuty does not say how long
        other = {**TRIGGER, "routing_key": "R0UTINGKEY-OTHER-0123456789abcdef"}
        assert post(url, other)[0] == 202  # each routing key has its own limit
        now[0] += 59.9
        assert post(url, TRIGGER)[0] == 429
        now[0] += 0.1  # the first three are 60 s old: out of the look-back window
        assert [post(url, TRIGGER)[0] for _ in range(4)] == [202, 202, 202, 429]
        assert len(pd.events(action="trigger")) == 7
        assert len(pd.events(action="trigger", accepted=False)) == 10
