"""The "Post update" and "Mark postmortem done" buttons: a click opens the modal through
the fake Slack's views.open, and the submitted modal posts the update or marks the
postmortem done."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from starlette.testclient import TestClient

from core.chat_actions import POST_UPDATE_ACTION_ID, POSTMORTEM_DONE_ACTION_ID
from core.postmortems import PostmortemStore
from core.rules.model import PostmortemPolicy
from tests.api.operator import KEY, open_incident, operator_app
from tests.callbacks.test_slack import click, post
from tests.fakes.vendors import TEST_BOT_TOKEN, FakeSlack
from tests.workers.conftest import Harness
from tests.workers.helpers import policy

PAYLOADS = Path(__file__).parent / "payloads"
App = tuple[TestClient, Harness, Any]


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str, fake_slack: FakeSlack):
    owed = PostmortemPolicy(frozenset({"SEV1"}), timedelta(hours=48))
    rules = dataclasses.replace(policy(), postmortem=owed)
    settings = {"slack_api_url": fake_slack.api_url, "slack_bot_token": TEST_BOT_TOKEN}
    with operator_app(redis_client, key_prefix, rules, **settings) as parts:
        yield parts


def submitted(callback_id: str, values: dict[str, Any], key: str = KEY) -> bytes:
    """A view_submission payload (api.slack.com/reference/interaction-payloads/views)."""
    payload = {
        "type": "view_submission",
        "team": {"id": "T1DC2JH3J", "domain": "acme"},
        "user": {"id": "U2CERLKJA", "username": "jane", "name": "jane", "team_id": "T1DC2JH3J"},
        "api_app_id": "A07ALERTGW",
        "trigger_id": "12466734323.1395872398.1ae2a3e1d2c1b1",
        "view": {
            "id": "V0MODAL",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": key,
            "state": {"values": values},
        },
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def update_values(status: str, text: str) -> dict[str, Any]:
    return {
        "status": {"status": {"type": "static_select", "selected_option": {"value": status}}},
        "text": {"text": {"type": "plain_text_input", "value": text}},
    }


def test_post_update_opens_the_modal_and_its_submission_posts_the_update(
    app: App, fake_slack: FakeSlack
):
    http, harness, _ = app
    open_incident(harness)
    answer = post(http, harness, click(POST_UPDATE_ACTION_ID))
    assert answer.status_code == 200
    [opened] = fake_slack.conversations.views
    assert opened["trigger_id"]
    view = opened["view"]
    if isinstance(view, str):  # slack_sdk sends the view as a JSON string in a form body
        view = json.loads(view)
    assert (view["callback_id"], view["private_metadata"]) == (POST_UPDATE_ACTION_ID, KEY)
    statuses = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert statuses == ["Investigating", "Mitigating", "Monitoring"]

    harness.clock.advance(timedelta(minutes=4))
    body = submitted(POST_UPDATE_ACTION_ID, update_values("Mitigating", "failing over"))
    answer = post(http, harness, body)
    assert (answer.status_code, answer.content) == (200, b"")  # closes the modal
    harness.run_due()
    [sent] = [n for n in harness.slack.sent if n.action == "status_update"]
    assert "Status: Mitigating\n" in sent.text
    assert sent.text.endswith("- 2026-03-02 10:04 UTC @jane (Slack): [Mitigating] failing over")


def test_a_bad_submission_is_shown_under_its_field(app: App):
    http, harness, _ = app
    open_incident(harness)
    answer = post(http, harness, submitted(POST_UPDATE_ACTION_ID, update_values("Mitigating", " ")))
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"text": "Say what was done and what is next."},
    }
    link = {"url": {"url": {"type": "url_text_input", "value": "not a link"}}}
    answer = post(http, harness, submitted(POSTMORTEM_DONE_ACTION_ID, link))
    assert answer.json()["errors"] == {
        "url": "Give the link (http or https) to the written postmortem."
    }


def test_mark_postmortem_done_from_its_modal(app: App, fake_slack: FakeSlack):
    http, harness, _ = app
    open_incident(harness)
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    [reminder] = [n for n in harness.slack.sent if n.action == "postmortem_due"]
    assert reminder.text.startswith("Postmortem due 2026-03-04 10:00 UTC.")
    assert post(http, harness, click(POSTMORTEM_DONE_ACTION_ID)).status_code == 200
    assert len(fake_slack.conversations.views) == 1
    link = {"url": {"url": {"type": "url_text_input", "value": "https://wiki.example.com/pm/7"}}}
    answer = post(http, harness, submitted(POSTMORTEM_DONE_ACTION_ID, link))
    assert (answer.status_code, answer.content) == (200, b"")
    done = PostmortemStore(harness.ctx.store).get(KEY)
    assert done is not None
    assert (done.done, done.url, done.done_by) == (
        True,
        "https://wiki.example.com/pm/7",
        "@jane (Slack)",
    )
