"""`/api/v1/silences`: list, create (a duration or an end, optionally a future start), expire."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.rules import DurationError, parse_duration
from core.silences import Silence, SilenceError
from gateway.api.http import guarded, read_model, reply
from gateway.api.models import SilenceIn, SilenceList, SilenceOut
from gateway.api.services import Services
from gateway.exceptions import BadPayload, NotFound

STATES = ("pending", "active", "expired")


def silence_out(silence: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(**silence.model_dump(), state=silence.state(now))


class SilencesApi:
    """The silence handlers, over `core.silences.SilenceStore`."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def routes(self) -> list[Route]:
        s = self._services
        return [
            Route("/silences", guarded(s, self.list), methods=["GET"]),
            Route("/silences", guarded(s, self.create), methods=["POST"]),
            Route("/silences/{id}", guarded(s, self.expire), methods=["DELETE"]),
        ]

    async def list(self, request: Request) -> Response:
        state = request.query_params.get("state") or None
        if state is not None and state not in STATES:
            raise BadPayload(f"state: must be one of {', '.join(STATES)}, not {state!r}")
        now = self._services.clock()
        found = await self._services.call(self._services.silences.list, now, state)  # type: ignore[arg-type]
        return reply(SilenceList(silences=[silence_out(s, now) for s in found]))

    async def create(self, request: Request) -> Response:
        body = await read_model(request, self._services, SilenceIn)
        now = self._services.clock()
        starts_at = body.starts_at or now
        if body.duration is not None:
            try:
                ends_at = starts_at + parse_duration(body.duration)
            except DurationError as error:
                raise BadPayload(f"duration: {error}") from None
        else:
            assert body.ends_at is not None  # the model requires one of the two
            ends_at = body.ends_at
        store = self._services.silences
        try:
            silence = await self._services.call(
                store.create, body.matchers, starts_at, ends_at, body.comment, body.created_by, now
            )
        except SilenceError as error:
            raise BadPayload(str(error)) from None
        return reply(silence_out(silence, now), 201)

    async def expire(self, request: Request) -> Response:
        silence_id = request.path_params["id"]
        now = self._services.clock()
        silence = await self._services.call(self._services.silences.expire, silence_id, now)
        if silence is None:
            raise NotFound(f"no silence {silence_id!r}")
        return reply(silence_out(silence, now))
