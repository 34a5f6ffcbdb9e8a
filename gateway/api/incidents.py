"""`/api/v1/incidents`: list, show (timeline and alerts), acknowledge, resolve, add a note.

Incident keys contain `:`, `,`, `=` and may contain `/` or `#`: the routes take the rest
of the path as the key (`{key:path}`), so clients percent-encode the key as a path
segment (`/` may be sent as is or as `%2F`; `#` must be `%23`, `?` must be `%3F`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.incidents.record import Incident
from core.incidents.store import IncidentStore
from core.models import SEVERITIES
from gateway.api import pages
from gateway.api.exceptions import Conflict
from gateway.api.http import guarded, read_model, reply
from gateway.api.models import (
    AlertStateOut,
    IncidentDetail,
    IncidentList,
    IncidentOut,
    NoteIn,
    Operation,
    TimelineEntryOut,
)
from gateway.api.services import Services
from gateway.exceptions import BadPayload, NotFound

STATUSES = ("open", "acknowledged", "resolved")
# what each operation needs, for the 409 message
NEEDS = {"acknowledge": "an open incident", "resolve": "an open or acknowledged incident"}


def incident_out(incident: Incident) -> IncidentOut:
    return IncidentOut.model_validate(incident.as_dict())


class IncidentsApi:
    """The incident handlers, over the workers' incident store."""

    def __init__(self, services: Services) -> None:
        self._services = services

    @property
    def _store(self) -> IncidentStore:
        return self._services.incidents

    def routes(self) -> list[Route]:
        s = self._services
        return [
            Route("/incidents", guarded(s, self.list), methods=["GET"]),
            Route("/incidents/{key:path}/ack", guarded(s, self.acknowledge), methods=["POST"]),
            Route("/incidents/{key:path}/resolve", guarded(s, self.resolve), methods=["POST"]),
            Route("/incidents/{key:path}/notes", guarded(s, self.note), methods=["POST"]),
            Route("/incidents/{key:path}", guarded(s, self.show), methods=["GET"]),
        ]

    async def list(self, request: Request) -> Response:
        status = _choice(request, "status", STATUSES)
        severity = _choice(request, "severity", SEVERITIES)
        limit = pages.parse_limit(request.query_params.get("limit"))
        cursor = request.query_params.get("cursor")
        after = pages.decode_cursor(cursor) if cursor else None
        found = await self._services.call(
            self._store.list,
            status=status,  # type: ignore[arg-type]
            severity=severity,  # type: ignore[arg-type]
            now=self._services.clock(),
        )
        taken, following = pages.page(found, limit, after)
        incidents = [incident_out(i) for i in taken]
        return reply(IncidentList(incidents=incidents, total=len(found), next_cursor=following))

    async def show(self, request: Request) -> Response:
        key = request.path_params["key"]
        return reply(await self._services.call(self.detail, key))

    async def acknowledge(self, request: Request) -> Response:
        return await self._operate(request, "acknowledge")

    async def resolve(self, request: Request) -> Response:
        return await self._operate(request, "resolve")

    async def note(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await read_model(request, self._services, NoteIn)
        return reply(await self._services.call(self.apply, "note", key, body.by, body.note), 201)

    async def _operate(self, request: Request, operation: str) -> Response:
        key = request.path_params["key"]
        body = await read_model(request, self._services, Operation)
        return reply(await self._services.call(self.apply, operation, key, body.by, body.note))

    def apply(self, operation: str, key: str, by: str, note: str) -> IncidentOut:
        """acknowledge, resolve or note (the console acts through this too); sync."""
        store, now = self._store, self._services.clock()
        method = {"acknowledge": store.acknowledge, "resolve": store.resolve}.get(
            operation, store.add_note
        )
        if method(key, by, note, now) is None:
            incident = store.get(key)
            if incident is None:
                raise NotFound(f"no incident {key!r}")
            need = NEEDS.get(operation, "an open or acknowledged incident")
            raise Conflict(f"incident {key!r} is {incident.status}; {operation} needs {need}")
        return incident_out(self._found(key))

    def detail(self, key: str) -> IncidentDetail:
        """The incident with its timeline and alerts (also the console's page); sync."""
        incident = self._found(key)
        timeline = [
            TimelineEntryOut(at=e.at, kind=e.kind, text=e.text) for e in self._store.timeline(key)
        ]
        alerts = [
            AlertStateOut.model_validate({"fingerprint": fingerprint, "status": status})
            for fingerprint, status in sorted(self._store.alerts(key).items())
        ]
        return IncidentDetail(
            **incident_out(incident).model_dump(), timeline=timeline, alerts=alerts
        )

    def _found(self, key: str) -> Incident:
        incident = self._store.get(key)
        if incident is None:
            raise NotFound(f"no incident {key!r} (unknown, or resolved longer ago than the window)")
        return incident


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise BadPayload(f"{name}: must be one of {', '.join(allowed)}, not {value!r}")
    return value
