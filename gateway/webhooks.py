"""`POST /webhooks/<source>`: read -> verify -> parse -> normalize -> classify -> hand off."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import pydantic_core
from prometheus_client.metrics import MetricWrapperBase
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import logs, metrics
from core.handoff import HandoffEntry
from core.models import Alert
from core.reload import LivePolicy
from core.settings import Settings
from gateway.body import BODY_TIMEOUT_SECONDS, read_body
from gateway.exceptions import GatewayError, NotFound
from gateway.handoff_writer import Handoff
from gateway.sources import SOURCES
from gateway.sources.base import Delivery, Source

log = logging.getLogger(__name__)
NO_QUERY: Mapping[str, str] = MappingProxyType({})
M = TypeVar("M", bound=MetricWrapperBase)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4096)
def _child(metric: M, *values: str) -> M:
    """`metric.labels(*values)`, looked up once: labels() takes a lock and hashes every
    call, a measurable share of a request (the label sets are few and bounded)."""
    return metric.labels(*values)


class WebhookEndpoint:
    """Turns one webhook request into classified alerts durably handed to the workers."""

    def __init__(
        self,
        settings: Settings,
        policy: LivePolicy,
        handoff: Handoff,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._handoff = handoff
        self._body_timeout = body_timeout
        self._clock = clock or _utc_now  # a drill's virtual clock stamps `received_at`

    async def handle(self, request: Request) -> JSONResponse:
        name = request.path_params["source"]
        source = SOURCES.get(name)
        if source is None:
            return error_response(NotFound(f"unknown source {name!r}; known: {sorted(SOURCES)}"))
        started = time.perf_counter()
        rid = logs.request_id(request.headers.get("x-request-id"), os.urandom(8).hex())
        with logs.context(request_id=rid, source=name):
            try:
                response = await self._handle(source, request)
            except GatewayError as error:
                log.info("refused with %d: %s", error.status_code, error)
                response = error_response(error)
        response.headers["x-request-id"] = rid
        _child(metrics.webhook_requests, name, str(response.status_code)).inc()
        _child(metrics.webhook_duration, name).observe(time.perf_counter() - started)
        return response

    async def _handle(self, source: Source, request: Request) -> JSONResponse:
        delivery = Delivery(
            body=await read_body(request, self._settings.max_body_bytes, self._body_timeout),
            headers=request.headers,
            # parsing an empty query string still costs microseconds per request
            query=request.query_params if request.scope["query_string"] else NO_QUERY,
            received_at=self._clock(),
        )
        source.verify(delivery, self._settings)
        payload = source.parse(delivery)
        alerts = source.normalize(payload, delivery)
        entries = self._classify(alerts)
        delivery_id = source.delivery_id(payload, delivery)
        taken = await self._handoff.put(
            entries, delivery=(source.name, delivery_id) if delivery_id else None
        )
        if not taken:
            log.info("%s delivery %s was already taken; ignored", source.name, delivery_id)
            return FastJSONResponse({"accepted": 0, "alerts": [], "duplicate": True}, 202)
        self._count(source, alerts, entries)
        return FastJSONResponse(
            {"accepted": len(alerts), "alerts": [_summary(e) for e in entries]}, 202
        )

    def _classify(self, alerts: list[Alert]) -> list[HandoffEntry]:
        policy = self._policy.current
        entries = []
        for alert in alerts:
            classifications = policy.classify(alert)
            siblings = tuple(c.incident_key for c in classifications)
            entries += [
                HandoffEntry(alert=alert, classification=c, siblings=siblings)
                for c in classifications
            ]
        return entries

    @staticmethod
    def _count(source: Source, alerts: list[Alert], entries: list[HandoffEntry]) -> None:
        # plain loops over a handful of alerts: a Counter costs more than the counting
        firing = sum(1 for alert in alerts if alert.status == "firing")
        if firing:
            _child(metrics.alerts_received, source.name, "firing").inc(firing)
        if firing < len(alerts):
            _child(metrics.alerts_received, source.name, "resolved").inc(len(alerts) - firing)
        for entry in entries:
            c = entry.classification
            _child(metrics.alerts_classified, c.severity, c.rule).inc()
        for alert in alerts:
            if truncated := alert.labels.get("truncated_alerts"):
                log.warning(
                    "%s sent a truncated group: %s alerts were left out", source.name, truncated
                )
                break


def _summary(entry: HandoffEntry) -> dict[str, Any]:
    return {
        "fingerprint": entry.alert.fingerprint,
        "status": entry.alert.status,
        "severity": entry.classification.severity,
        "rule": entry.classification.rule,
        "incident": entry.classification.incident_key,
    }


class FastJSONResponse(JSONResponse):
    """A JSONResponse rendered by pydantic-core: the same compact UTF-8 JSON, in a few
    microseconds instead of json.dumps' tens on the webhook hot path."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


def error_response(error: GatewayError) -> JSONResponse:
    """The one place a GatewayError becomes an HTTP answer."""
    return JSONResponse({"error": str(error)}, status_code=error.status_code)
