"""`/api/v1/incidents/{key}/postmortem`: the draft (`postmortem.md`), its state, mark done.

A resolved SEV1/SEV2 (the rules' `postmortem` section) owes a postmortem; alertgw drafts
it from its own record (`core.postmortem_draft`) and reminds the thread of the due
time until it is marked done here with a link to the written document (or with the CLI).
The key's latest postmortem is meant unless `?inc=` (or `inc` in the body) names one.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.postmortem_draft import render
from core.postmortems import Postmortem, PostmortemStore
from gateway.api.http import guarded, read_model, reply
from gateway.api.models import PostmortemIn, PostmortemOut
from gateway.api.services import Services
from gateway.exceptions import NotFound

MARKDOWN = "text/markdown; charset=utf-8"


class PostmortemsApi:
    """The postmortem handlers, over the store the workers begin postmortems in."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._store = PostmortemStore(services.incidents)

    def routes(self) -> list[Route]:
        """Routes to mount before the incident routes (whose `{key:path}` takes the rest)."""
        s, base = self._services, "/incidents/{key:path}/postmortem"
        return [
            Route(f"{base}.md", guarded(s, self.draft), methods=["GET"]),
            Route(base, guarded(s, self.show), methods=["GET"]),
            Route(base, guarded(s, self.mark_done), methods=["POST"]),
        ]

    async def draft(self, request: Request) -> Response:
        key, inc = request.path_params["key"], request.query_params.get("inc") or None
        text = await self._services.call(self._draft, key, inc)
        return Response(text, media_type=MARKDOWN)

    async def show(self, request: Request) -> Response:
        key, inc = request.path_params["key"], request.query_params.get("inc") or None
        return reply(await self._services.call(self._out, key, inc))

    async def mark_done(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await read_model(request, self._services, PostmortemIn)
        return reply(await self._services.call(self._done, key, body))

    def _draft(self, key: str, inc: str | None) -> str:
        postmortem = self._found(key, inc)
        incident, timeline = self._store.record(postmortem)
        return render(incident, timeline, postmortem)

    def _out(self, key: str, inc: str | None) -> PostmortemOut:
        return self._as_out(self._found(key, inc))

    def _done(self, key: str, body: PostmortemIn) -> PostmortemOut:
        postmortem = self._found(key, body.inc)
        now = self._services.clock()
        if not self._store.mark_done(key, postmortem.inc, body.url, body.by, now):
            raise NotFound(f"no postmortem for incident {key!r}")  # gone meanwhile
        return self._as_out(self._found(key, postmortem.inc))

    def _found(self, key: str, inc: str | None) -> Postmortem:
        postmortem = self._store.get(key, inc)
        if postmortem is not None:
            return postmortem
        which = f" (incarnation {inc})" if inc else ""
        raise NotFound(
            f"no postmortem for incident {key!r}{which}: one begins when an incident of a "
            "severity in the rules' `postmortem.severities` resolves"
        )

    def _as_out(self, postmortem: Postmortem) -> PostmortemOut:
        data = postmortem.as_dict()
        data["overdue"] = postmortem.overdue(self._services.clock())
        data["draft"] = f"/api/v1/incidents/{quote(postmortem.key, safe='')}/postmortem.md"
        return PostmortemOut.model_validate(data)
