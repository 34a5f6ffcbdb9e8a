"""`POST /slack/actions`: the Acknowledge and Resolve buttons of the incident message
(and the "Post update" / "Mark postmortem done" buttons and modals: `slack_modals`).

Slack posts `payload=<JSON>` form-encoded and signs `v0:<timestamp>:<raw body>` with the
app's signing secret; requests older than five minutes are refused (replays). The
button's `value` is the incident key. The handler does one atomic store transition and
answers 200 at once: the transition writes to the workers' change stream, from which
the workers update the Slack message (who, when) and acknowledge or resolve in
PagerDuty, so the answer is well inside Slack's 3 seconds. A retried or double-clicked
button is harmless: the same click is processed once, and a second click finds the
incident already acknowledged or resolved.

Docs: https://api.slack.com/authentication/verifying-requests-from-slack,
https://api.slack.com/interactivity/handling#acknowledgment_response
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qs

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core import metrics, slack_people
from core.chat_actions import ACK_ACTION_ID, RESOLVE_ACTION_ID
from core.settings import Settings
from gateway.api.services import Services
from gateway.body import read_body
from gateway.callbacks import slack_modals
from gateway.exceptions import BadPayload, GatewayError, Unauthorized, UnsupportedMediaType
from gateway.sources.base import UNAUTHORIZED, any_equal, credentials, decode_json, validate
from gateway.webhooks import error_response

log = logging.getLogger(__name__)

VENDOR = "slack"
MAX_AGE_SECONDS = 300


class User(BaseModel):
    id: str = ""
    username: str = ""
    name: str = ""


class Container(BaseModel):
    message_ts: str = ""
    channel_id: str = ""


class Action(BaseModel):
    action_id: str
    value: str = ""
    action_ts: str = ""


class Interaction(BaseModel):
    """A `block_actions` or `view_submission` payload, reduced to what alertgw reads."""

    type: str
    user: User = User()
    container: Container = Container()
    actions: list[Action] = []
    trigger_id: str = ""
    view: slack_modals.View | None = None


def verify(body: bytes, headers: Mapping[str, str], settings: Settings, now: datetime) -> None:
    """Check Slack's v0 signature over the raw body and the 5-minute freshness window."""
    secrets = credentials(settings, "slack_signing_secret")
    if secrets is None:
        return
    timestamp = headers.get("x-slack-request-timestamp", "")
    # one message for every failure: a client never learns which check it failed
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS:
        raise Unauthorized(UNAUTHORIZED)
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = ["v0=" + hmac.new(s.encode(), base, "sha256").hexdigest() for s in secrets]
    if not any_equal(headers.get("x-slack-signature", "").strip(), expected):
        raise Unauthorized(UNAUTHORIZED)


def parse(body: bytes, content_type: str) -> Interaction:
    """Decode the form body's `payload` field; BadPayload names what is wrong."""
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("expected Content-Type: application/x-www-form-urlencoded")
    try:
        form = parse_qs(body.decode(), strict_parsing=False)
    except UnicodeDecodeError:
        raise BadPayload("body is not valid UTF-8") from None
    if "payload" not in form:
        raise BadPayload("payload: field required")
    return validate(Interaction, decode_json(form["payload"][0].encode()))


class SlackActions:
    """The endpoint: verify, parse, apply each button click once."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def handle(self, request: Request) -> Response:
        services = self._services
        try:
            body = await read_body(request, services.settings.max_body_bytes)
            verify(body, request.headers, services.settings, services.clock())
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            interaction = parse(body, content_type.lower())
        except GatewayError as error:
            metrics.callbacks.labels(VENDOR, "invalid", "rejected").inc()
            return error_response(error)
        if interaction.type == "view_submission" and interaction.view is not None:
            return await self._submitted(interaction, interaction.view)
        if interaction.type != "block_actions":
            metrics.callbacks.labels(VENDOR, interaction.type[:40], "ignored").inc()
            return Response(status_code=200)
        try:
            await services.call(self._process, interaction)
        except GatewayError as error:
            return error_response(error)
        # an empty 200 acknowledges the click; the message update comes from the workers
        return Response(status_code=200)

    async def _submitted(self, interaction: Interaction, view: slack_modals.View) -> Response:
        try:
            answer = await self._services.call(
                slack_modals.submit, self._services, view, _who(interaction.user)
            )
        except GatewayError as error:
            return error_response(error)
        outcome = "rejected" if answer else "applied"
        metrics.callbacks.labels(VENDOR, view.callback_id[:40] or "view", outcome).inc()
        # an empty 200 closes the modal; `errors` shows what to fix under the field
        return JSONResponse(answer) if answer else Response(status_code=200)

    def _process(self, interaction: Interaction) -> list[str]:
        outcomes = []
        for action in interaction.actions:
            outcome = self._click(interaction, action)
            metrics.callbacks.labels(VENDOR, action.action_id[:40], outcome).inc()
            outcomes.append(outcome)
        return outcomes

    def _click(self, interaction: Interaction, action: Action) -> str:
        if action.action_id in slack_modals.BUTTONS and action.value:
            services, trigger = self._services, interaction.trigger_id
            return slack_modals.open_modal(services, action.action_id, action.value, trigger)
        if action.action_id not in (ACK_ACTION_ID, RESOLVE_ACTION_ID) or not action.value:
            return "ignored"
        click = f"{interaction.container.message_ts}:{action.action_ts}:{action.action_id}"
        # a retried request carries the same click; checked before, recorded after, so a
        # failure in between is retried rather than lost
        if action.action_ts and self._services.seen(VENDOR, click):
            return "duplicate"
        store, key = self._services.incidents, action.value
        operate = store.acknowledge if action.action_id == ACK_ACTION_ID else store.resolve
        who = _who(interaction.user)
        applied = operate(key, who, "", self._services.clock())
        if action.action_ts:
            self._services.remember(VENDOR, click)
        if applied is not None:
            if interaction.user.id:  # to invite them into the incident's channel
                prefix = self._services.settings.redis_prefix
                slack_people.remember(self._services.redis, prefix, who, interaction.user.id)
            return "applied"
        outcome = "noop" if store.get(key) is not None else "unknown"
        log.info("slack %s on incident %s: %s", action.action_id, json.dumps(key), outcome)
        return outcome


def _who(user: User) -> str:
    name = user.name or user.username or user.id or "someone"
    return f"@{name} (Slack)"
