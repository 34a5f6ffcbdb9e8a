"""`POST /api/v1/incidents/{key}/updates`: post a status update in the plan's template.

The same action as the Slack "Post update" button's modal: the update becomes a
timeline entry, the Slack root message's Status changes to the posted one, the
INCIDENT UPDATE block goes into the thread, and the reminder clock starts again
(`core.status_updates`, `workers.escalation.posted_updates`). Resolving stays its own action.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import status_updates
from gateway.api.exceptions import Conflict
from gateway.api.http import guarded, read_model, reply
from gateway.api.incidents import incident_out
from gateway.api.models import IncidentOut, StatusUpdateIn
from gateway.api.services import Services
from gateway.exceptions import NotFound


class StatusUpdatesApi:
    """The status-update handler, over the incident store."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def routes(self) -> list[Route]:
        """Routes to mount before the incident routes (whose `{key:path}` takes the rest)."""
        return [
            Route(
                "/incidents/{key:path}/updates",
                guarded(self._services, self.post),
                methods=["POST"],
            )
        ]

    async def post(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await read_model(request, self._services, StatusUpdateIn)
        return reply(await self._services.call(self._post, key, body), 201)

    def _post(self, key: str, body: StatusUpdateIn) -> IncidentOut:
        store = self._services.incidents
        now = self._services.clock()
        if not status_updates.post(store, key, body.status, body.text, body.by, now):
            incident = store.get(key)
            if incident is None:
                raise NotFound(f"no incident {key!r}")
            raise Conflict(f"incident {key!r} is {incident.status}; updates need a live one")
        found = store.get(key)
        if found is None:
            raise NotFound(f"no incident {key!r}")  # forgotten in between
        return incident_out(found)
