"""The "Post update" and "Mark postmortem done" buttons, and the Slack modals they open.

A click on either button (in a status-update reminder or a postmortem reminder in the
incident's thread) opens a modal with `views.open` (the click's `trigger_id` is valid
for 3 s, so it is called at once, one attempt). Submitting the modal posts a
`view_submission` to the same `/slack/actions` URL: the status update is posted
(`core.status_updates`, as `POST /api/v1/incidents/{key}/updates` does) or the
postmortem is marked done with its link (`core.postmortems`). A bad value answers
Slack's `response_action: errors`, which shows the message under the field.

Docs: https://api.slack.com/surfaces/modals, https://api.slack.com/methods/views.open,
https://api.slack.com/reference/interaction-payloads/views#view_submission
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import BaseModel
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from core import status_updates
from core.chat_actions import POST_UPDATE_ACTION_ID, POSTMORTEM_DONE_ACTION_ID
from core.postmortems import PostmortemStore
from gateway.api.services import Services

log = logging.getLogger(__name__)

BUTTONS = (POST_UPDATE_ACTION_ID, POSTMORTEM_DONE_ACTION_ID)
_LINK = re.compile(r"https?://\S+")
TIMEOUT_SECONDS = 2.5  # inside the trigger_id's 3 seconds

Values = dict[str, dict[str, dict[str, Any]]]


class View(BaseModel):
    """A submitted modal, reduced to what alertgw reads."""

    callback_id: str = ""
    private_metadata: str = ""
    state: dict[str, Values] = {}


def open_modal(services: Services, action_id: str, key: str, trigger_id: str) -> str:
    """Open the button's modal; the outcome for the callbacks metric."""
    token = services.settings.slack_bot_token
    if not trigger_id or token is None:
        return "ignored"
    view = update_view(key) if action_id == POST_UPDATE_ACTION_ID else postmortem_view(key)
    client = WebClient(
        token=token.get_secret_value(),
        base_url=str(services.settings.slack_api_url),
        timeout=TIMEOUT_SECONDS,  # type: ignore[arg-type]  # urllib takes float seconds
        retry_handlers=[],
    )
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except (SlackApiError, OSError) as error:
        # the click is lost either way: Slack's trigger_id is gone before a retry
        log.warning("slack views.open failed (%s)", type(error).__name__)
        return "failed"
    return "opened"


def submit(services: Services, view: View, who: str) -> dict[str, Any] | None:
    """Apply a submitted modal: None (closes it) or Slack's `errors` answer."""
    key, values = view.private_metadata, view.state.get("values", {})
    now = services.clock()
    if view.callback_id == POST_UPDATE_ACTION_ID:
        status = _selected(values, "status")
        text = _typed(values, "text").strip()
        if status not in status_updates.STATUSES:
            return _errors("status", "Choose Investigating, Mitigating or Monitoring.")
        if not text:
            return _errors("text", "Say what was done and what is next.")
        if not status_updates.post(services.incidents, key, status, text[:2000], who, now):
            return _errors("text", "This incident is no longer open: it was resolved.")
        return None
    if view.callback_id == POSTMORTEM_DONE_ACTION_ID:
        link = _typed(values, "url").strip()
        if not _LINK.fullmatch(link):
            return _errors("url", "Give the link (http or https) to the written postmortem.")
        store = PostmortemStore(services.incidents)
        postmortem = store.get(key)
        if postmortem is None or not store.mark_done(key, postmortem.inc, link, who, now):
            return _errors("url", "alertgw has no postmortem for this incident any more.")
        return None
    return None  # another app's modal: nothing to do


def update_view(key: str) -> dict[str, Any]:
    """The "Post update" modal: the plan's status and the update's text."""
    options = [_option(status) for status in status_updates.STATUSES]
    return _modal(
        POST_UPDATE_ACTION_ID,
        key,
        "Post update",
        [
            _input(
                "status",
                "Status",
                {"type": "static_select", "options": options, "initial_option": options[0]},
            ),
            _input(
                "text",
                "Update (impact, actions taken, next steps)",
                {"type": "plain_text_input", "multiline": True, "max_length": 2000},
            ),
        ],
    )


def postmortem_view(key: str) -> dict[str, Any]:
    """The "Mark postmortem done" modal: the link to the written document."""
    return _modal(
        POSTMORTEM_DONE_ACTION_ID,
        key,
        "Postmortem done",
        [_input("url", "Link to the written postmortem", {"type": "url_text_input"})],
    )


def _modal(callback: str, key: str, title: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback,
        "private_metadata": key,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _input(name: str, label: str, element: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": name,
        "label": {"type": "plain_text", "text": label},
        "element": {**element, "action_id": name},
    }


def _option(text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": text}


def _selected(values: Values, name: str) -> str:
    option = values.get(name, {}).get(name, {}).get("selected_option") or {}
    return str(option.get("value", ""))


def _typed(values: Values, name: str) -> str:
    return str(values.get(name, {}).get(name, {}).get("value") or "")


def _errors(block: str, message: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {block: message}}
