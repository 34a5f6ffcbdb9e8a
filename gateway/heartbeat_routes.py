"""Heartbeats over HTTP: `POST /heartbeats/<name>` (a ping) and `/api/v1/heartbeats`.

A ping carries the heartbeat's own token (`Authorization: Bearer`, or `?token=` for
tools that can only call a URL) and answers 202. Any other method answers 405, so a
link preview or a click on the URL never feeds a heartbeat. The API (list, pause,
resume) takes ALERTGW_API_TOKEN like the rest of `/api/v1`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core import metrics
from core.heartbeats import HeartbeatStatus, HeartbeatStore
from core.reload import LivePolicy
from core.rules.durations import format_duration
from core.rules.model import Heartbeat
from gateway.api.http import guarded, read_model, reply
from gateway.api.models import HeartbeatList, HeartbeatOut, PauseIn
from gateway.api.services import Services
from gateway.exceptions import GatewayError, NotFound, Unauthorized
from gateway.sources.base import UNAUTHORIZED, any_equal
from gateway.webhooks import error_response


class MethodNotAllowed(GatewayError):
    """Only POST feeds a heartbeat."""

    status_code = 405


def heartbeat_out(status: HeartbeatStatus) -> HeartbeatOut:
    fields: dict[str, Any] = {**status.__dict__}
    fields["period"] = format_duration(status.period)
    fields["grace"] = format_duration(status.grace)
    return HeartbeatOut(**fields)


class HeartbeatRoutes:
    """The ping endpoint and the heartbeat API, over `core.heartbeats.HeartbeatStore`."""

    def __init__(self, services: Services, policy: LivePolicy) -> None:
        self._services = services
        self._policy = policy
        self._store = HeartbeatStore(services.redis, services.settings.redis_prefix)

    def routes(self) -> list[BaseRoute]:
        s = self._services
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route("/heartbeats/{name}", self.ping, methods=methods),
            Route("/api/v1/heartbeats", guarded(s, self.list), methods=["GET"]),
            Route("/api/v1/heartbeats/{name}/pause", guarded(s, self.pause), methods=["POST"]),
            Route("/api/v1/heartbeats/{name}/resume", guarded(s, self.resume), methods=["POST"]),
        ]

    async def ping(self, request: Request) -> Response:
        try:
            if request.method != "POST":
                raise MethodNotAllowed("a heartbeat is fed by POST only")
            heartbeat = self._heartbeat(request)
            self._authorize(request, heartbeat)
            now = self._services.clock()
            outcome = await self._services.call(self._store.beat, heartbeat, now)
        except GatewayError as error:
            response = error_response(error)
            if error.status_code == 405:
                response.headers["allow"] = "POST"
            return response
        metrics.heartbeat_beats.labels(heartbeat.name, "ping").inc()
        deadline = now + heartbeat.allowance
        body = {"heartbeat": heartbeat.name, "outcome": outcome}
        return JSONResponse({**body, "next_deadline": deadline.isoformat()}, 202)

    async def list(self, request: Request) -> Response:
        found = await self._services.call(self._store.statuses, self._policy.current)
        return reply(HeartbeatList(heartbeats=[heartbeat_out(s) for s in found]))

    async def pause(self, request: Request) -> Response:
        heartbeat = self._heartbeat(request)
        body = await read_model(request, self._services, PauseIn)
        now = self._services.clock()
        await self._services.call(self._store.pause, heartbeat, now, body.by)
        return await self._one(heartbeat)

    async def resume(self, request: Request) -> Response:
        heartbeat = self._heartbeat(request)
        await self._services.call(self._store.resume, heartbeat, self._services.clock())
        return await self._one(heartbeat)

    async def _one(self, heartbeat: Heartbeat) -> Response:
        found = await self._services.call(self._store.statuses, self._policy.current)
        return reply(next(heartbeat_out(s) for s in found if s.name == heartbeat.name))

    def _heartbeat(self, request: Request) -> Heartbeat:
        name = request.path_params["name"]
        heartbeat = self._policy.current.heartbeats.get(name)
        if heartbeat is None:
            raise NotFound(f"no heartbeat {name!r} in the rules")
        return heartbeat

    def _authorize(self, request: Request, heartbeat: Heartbeat) -> None:
        if not heartbeat.tokens:
            if self._services.settings.allow_unsigned:
                return
            raise Unauthorized(
                f"heartbeat {heartbeat.name!r} has no token; set `token` in its rules"
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            given = request.query_params.get("token", "")
        if not given or not any_equal(given.strip(), heartbeat.tokens):
            raise Unauthorized(UNAUTHORIZED)
