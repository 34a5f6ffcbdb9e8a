"""`/ui/` (the incident board) and `/ui/incidents/<key>` (one incident, its timeline, actions)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from core.gauges import storms_index_key
from core.heartbeats import HeartbeatStore
from gateway.api.incidents import IncidentsApi, incident_out
from gateway.api.models import IncidentDetail, IncidentOut
from gateway.exceptions import BadPayload
from gateway.ui import board
from gateway.ui.http import Console, acting, field
from gateway.ui.session import Viewer

REFRESH_SECONDS = 10
# the labels that name what an incident is about, for "Silence like this"
SILENCE_LABELS = ("alertname", "service", "environment")
# how timeline entries read, by kind; others show their text as is
PHRASES = {
    "acknowledged": "Acknowledged by {text}",
    "unacknowledged": "Acknowledgement withdrawn by {text}",
    "note": "Note from {text}",
}


def incident_path(key: str) -> str:
    return f"/ui/incidents/{quote(key, safe='')}"


def silence_like(incident: IncidentOut) -> str:
    """The silence editor's URL, pre-filled with matchers for this incident's labels."""
    labels = incident.labels
    matchers = [f'{n}="{_quoted(labels[n])}"' for n in SILENCE_LABELS if labels.get(n)]
    if not matchers:
        matchers = [f'title="{_quoted(incident.title)}"']
    query = [("matcher", m) for m in matchers]
    query.append(("comment", f"silenced from incident {incident.key}"))
    return "/ui/silences?" + urlencode(query)


def phrase(kind: str, text: str) -> str:
    if kind == "resolved" and not text.startswith("all alerts"):
        return f"Resolved by {text}"
    return PHRASES.get(kind, "{text}").format(text=text)


class IncidentPages:
    """The board and the incident page, over the same code as `/api/v1/incidents`."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._api = IncidentsApi(console.services)

    def routes(self) -> list[Route]:
        c = self._console
        return [
            Route("/", c.page(self.board), methods=["GET"]),
            Route("/board", c.page(self.board_rows), methods=["GET"]),
            Route("/incidents/{key:path}/ack", c.form(self.acknowledge), methods=["POST"]),
            Route("/incidents/{key:path}/resolve", c.form(self.resolve), methods=["POST"]),
            Route("/incidents/{key:path}/notes", c.form(self.note), methods=["POST"]),
            Route("/incidents/{key:path}", c.page(self.incident), methods=["GET"]),
        ]

    async def board(self, request: Request, viewer: Viewer) -> Response:
        context = await self._board_context(request)
        return self._console.pages.render(request, "board.html", context, viewer)

    async def board_rows(self, request: Request, viewer: Viewer) -> Response:
        """The board's table alone: what the page's htmx polling swaps in."""
        context = await self._board_context(request)
        return self._console.pages.render(request, "_board_rows.html", context, viewer)

    async def _board_context(self, request: Request) -> dict[str, object]:
        services = self._console.services
        now = services.clock()
        found = await services.call(services.incidents.list, now=now)
        incidents = [incident_out(i) for i in found]
        filters = board.Filters.from_query(request.query_params)
        rows = board.rows(incidents, filters, self._console.policy(), now)
        return {
            "watch": await services.call(self._watch),
            "rows": rows,
            "filters": filters,
            "query": urlencode(filters.as_query()),
            "total": len(incidents),
            "choices": board.choices(incidents),
            "now": now,
            "refresh": REFRESH_SECONDS,
            "incident_path": incident_path,
        }

    def _watch(self) -> dict[str, list[str]]:
        """What the board shows above the incidents: the targets in an alert storm and
        the heartbeats that stopped (missed) or were paused."""
        services = self._console.services
        prefix = services.settings.redis_prefix
        statuses = HeartbeatStore(services.redis, prefix).statuses(self._console.policy())
        targets = services.redis.hkeys(storms_index_key(prefix))
        return {
            "storms": sorted(t.decode() if isinstance(t, bytes) else str(t) for t in targets),
            "missed": [s.name for s in statuses if s.state == "missed"],
            "paused": [s.name for s in statuses if s.state == "paused"],
        }

    async def incident(self, request: Request, viewer: Viewer) -> Response:
        key = request.path_params["key"]
        services = self._console.services
        detail: IncidentDetail = await services.call(self._api.detail, key)
        context = {
            "incident": detail,
            "progress": board.progress(detail, self._console.policy()),
            "timeline": [(e, phrase(e.kind, e.text)) for e in detail.timeline],
            "now": services.clock(),
            "silence_url": silence_like(detail),
            "path": incident_path(key),
            "done": request.query_params.get("done", ""),
        }
        return self._console.pages.render(request, "incident.html", context, viewer)

    async def acknowledge(self, request: Request, viewer: Viewer, form: FormData) -> Response:
        return await self._operate(request, viewer, "acknowledge", field(form, "note"))

    async def resolve(self, request: Request, viewer: Viewer, form: FormData) -> Response:
        return await self._operate(request, viewer, "resolve", field(form, "note"))

    async def note(self, request: Request, viewer: Viewer, form: FormData) -> Response:
        text = field(form, "note")
        if not text:
            raise BadPayload("note: write something to add")
        return await self._operate(request, viewer, "note", text)

    async def _operate(
        self, request: Request, viewer: Viewer, operation: str, note: str
    ) -> Response:
        key = request.path_params["key"]
        await self._console.services.call(self._api.apply, operation, key, acting(viewer), note)
        # Post/Redirect/Get: a reload does not repeat the action
        return RedirectResponse(f"{incident_path(key)}?done={operation}", 303)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
