"""`POST /webhooks/pagerduty`: PagerDuty webhooks v3 keep alertgw's incidents in step.

PagerDuty is not an alert source: its webhooks say what a responder did to an incident
alertgw paged. `data.incident_key` is the dedup key alertgw sent (its incident key).
`incident.acknowledged` acknowledges the incident (escalation stops),
`incident.unacknowledged` (and `incident.reopened` of an acknowledged one) takes the
acknowledgement back (escalation resumes from where it stood), `incident.resolved`
resolves it (pending steps are cancelled, and every other target told about it, Slack
and other routing keys, follows through the workers' change stream). Redeliveries carry
the same `X-Webhook-Id` and are processed once. Unknown incidents and other event types
are answered 202 and counted, so PagerDuty never disables the subscription over them.

Docs: https://developer.pagerduty.com/docs/webhooks-overview (v3 payloads, retries),
https://developer.pagerduty.com/docs/verifying-webhook-signatures (the signature).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import metrics
from core.settings import Settings
from gateway.api.services import Services
from gateway.body import read_body
from gateway.exceptions import GatewayError, Unauthorized
from gateway.sources.base import UNAUTHORIZED, any_equal, credentials, decode_json, validate
from gateway.webhooks import error_response

log = logging.getLogger(__name__)

VENDOR = "pagerduty"
SIGNATURE_HEADER = "x-pagerduty-signature"
WEBHOOK_ID_HEADER = "x-webhook-id"
RESUME_EVENTS = ("incident.unacknowledged", "incident.reopened")


class Agent(BaseModel):
    """Who did it: a user reference (or a service, for automatic actions)."""

    id: str = ""
    summary: str = ""


class IncidentData(BaseModel):
    """The part of an incident event alertgw reads."""

    id: str = ""
    incident_key: str | None = None
    status: str = ""


class Event(BaseModel):
    id: str
    event_type: str
    resource_type: str = ""
    agent: Agent | None = None
    data: dict[str, Any] = {}


class Envelope(BaseModel):
    event: Event


def verify(body: bytes, header: str, settings: Settings) -> None:
    """Accept if any `v1=<hex>` entry is HMAC-SHA256(secret, raw body) for any secret."""
    secrets = credentials(settings, "pagerduty_webhook_secret")
    if secrets is None:
        return
    given = [part.strip()[3:].lower() for part in header.split(",") if part.strip()[:3] == "v1="]
    expected = [hmac.new(s.encode(), body, "sha256").hexdigest() for s in secrets]
    # a list, not any(): every entry is compared, so timing says nothing about which matched
    matched = [any_equal(g, expected) for g in given]
    if not any(matched):
        raise Unauthorized(UNAUTHORIZED)


class PagerDutyCallback:
    """The endpoint: verify, dedupe on X-Webhook-Id, apply to the incident store."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def handle(self, request: Request) -> JSONResponse:
        event_type = "invalid"
        try:
            settings = self._services.settings
            body = await read_body(request, settings.max_body_bytes)
            verify(body, request.headers.get(SIGNATURE_HEADER, ""), settings)
            event = validate(Envelope, decode_json(body)).event
            event_type = event.event_type
            webhook_id = request.headers.get(WEBHOOK_ID_HEADER) or event.id
            outcome, key = await self._services.call(self._process, event, webhook_id)
        except GatewayError as error:
            metrics.callbacks.labels(VENDOR, event_type, "rejected").inc()
            return error_response(error)
        metrics.callbacks.labels(VENDOR, event_type, outcome).inc()
        return JSONResponse({"outcome": outcome, "incident": key}, 202)

    def _process(self, event: Event, webhook_id: str) -> tuple[str, str | None]:
        if event.resource_type != "incident":
            return "ignored", None
        key = IncidentData.model_validate(event.data).incident_key
        if not key:
            return "ignored", None
        # Checked before and recorded after applying: a failure in between leaves no
        # record, so PagerDuty's retry runs it again (the transitions are idempotent).
        if self._services.seen(VENDOR, webhook_id):
            log.info("pagerduty webhook %s was already processed; ignored", webhook_id)
            return "duplicate", key
        outcome = self._apply(event, key)
        self._services.remember(VENDOR, webhook_id)
        return outcome, key

    def _apply(self, event: Event, key: str) -> str:
        store, now = self._services.incidents, self._services.clock()
        by = _who(event)
        action: Callable[[str, str, str, Any], int | None] | None
        if event.event_type == "incident.acknowledged":
            action = store.acknowledge
        elif event.event_type == "incident.resolved":
            action = store.resolve
        elif event.event_type in RESUME_EVENTS:
            action = store.unacknowledge  # escalation resumes where it stood
        else:
            return "ignored"
        if action(key, by, "", now) is not None:
            return "applied"
        return "noop" if store.get(key) is not None else "unknown"


def _who(event: Event) -> str:
    name = event.agent.summary if event.agent and event.agent.summary else "someone"
    return f"{name} (PagerDuty)"
