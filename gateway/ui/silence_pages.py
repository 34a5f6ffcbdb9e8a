"""`/ui/silences`: the list, an editor that previews what it would mute, and expire."""

from __future__ import annotations

import builtins
from datetime import datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from core.inhibition import with_severity
from core.rules import DurationError, MatcherError, parse_duration
from core.rules.matchers import parse_matchers
from core.silences import Silence, SilenceError
from gateway.api.incidents import incident_out
from gateway.api.models import IncidentOut
from gateway.exceptions import BadPayload, NotFound
from gateway.ui.http import Console, field
from gateway.ui.incident_pages import incident_path
from gateway.ui.session import Viewer

STATES = ("active", "pending", "expired")
DEFAULT_DURATION = "2h"


def matcher_lines(text: str) -> list[str]:
    """The editor's matchers: one per line, blank lines ignored."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def would_mute(matchers: list[str], incidents: list[IncidentOut]) -> list[IncidentOut]:
    """The live incidents these matchers select, as a silence sees them (labels + severity).

    Raises MatcherError for a matcher that does not parse.
    """
    compiled = parse_matchers(matchers)
    return [
        i
        for i in incidents
        if i.status != "resolved"
        and all(m.matches(with_severity(i.labels, i.severity)) for m in compiled)
    ]


class SilencePages:
    """The silence list and editor, over the same store as `/api/v1/silences`."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def routes(self) -> list[Route]:
        c = self._console
        return [
            Route("/silences", c.page(self.list), methods=["GET"]),
            Route("/silences/preview", c.page(self.preview), methods=["GET"]),
            Route("/silences", c.form(self.create), methods=["POST"]),
            Route("/silences/{id}/expire", c.form(self.expire), methods=["POST"]),
        ]

    async def list(self, request: Request, viewer: Viewer) -> Response:
        services = self._console.services
        now = services.clock()
        silences: builtins.list[Silence] = await services.call(services.silences.list, now)
        grouped = {state: [s for s in silences if s.state(now) == state] for state in STATES}
        matchers = request.query_params.getlist("matcher")
        context = {
            "grouped": grouped,
            "now": now,
            "form": {
                "matchers": "\n".join(matchers),
                "duration": request.query_params.get("duration", DEFAULT_DURATION),
                "comment": request.query_params.get("comment", ""),
            },
            "preview": await self._preview(matchers) if matchers else None,
            "done": request.query_params.get("done", ""),
        }
        return self._console.pages.render(request, "silences.html", context, viewer)

    async def preview(self, request: Request, viewer: Viewer) -> Response:
        """What the editor's matchers would mute now: swapped in by htmx as you type."""
        matchers = matcher_lines(request.query_params.get("matchers", ""))
        context = {"preview": await self._preview(matchers)}
        return self._console.pages.render(request, "_silence_preview.html", context, viewer)

    async def _preview(self, matchers: builtins.list[str]) -> dict[str, object]:
        if not matchers:
            return {"error": "", "incidents": [], "empty": True}
        services = self._console.services
        found = await services.call(services.incidents.list, now=services.clock())
        try:
            muted = would_mute(matchers, [incident_out(i) for i in found])
        except MatcherError as error:
            return {"error": str(error), "incidents": [], "empty": False}
        return {"error": "", "incidents": muted, "empty": False, "path": incident_path}

    async def create(self, request: Request, viewer: Viewer, form: FormData) -> Response:
        services = self._console.services
        now = services.clock()
        matchers = matcher_lines(field(form, "matchers"))
        comment = field(form, "comment")
        if not comment:
            raise BadPayload("comment: say why (on-call reads it)")
        try:
            ends_at = now + parse_duration(field(form, "duration") or DEFAULT_DURATION)
        except DurationError as error:
            raise BadPayload(f"duration: {error}") from None
        try:
            await services.call(
                services.silences.create, matchers, now, ends_at, comment, viewer.name, now
            )
        except SilenceError as error:
            raise BadPayload(str(error)) from None
        return RedirectResponse("/ui/silences?done=created", 303)

    async def expire(self, request: Request, viewer: Viewer, form: FormData) -> Response:
        services = self._console.services
        silence_id = request.path_params["id"]
        now: datetime = services.clock()
        if await services.call(services.silences.expire, silence_id, now) is None:
            raise NotFound(f"no silence {silence_id!r}")
        return RedirectResponse("/ui/silences?done=expired", 303)
