"""`/ui/dead-letters`: deliveries that ran out of retries, newest first, and replay.

The gateway does not import the workers, and only a worker can run a job: Replay asks
for it in Redis (`core.deadletters.DeadLetters.request_replay`) and a worker's refresher
replays it within seconds (`workers.jobs.replay_requested`). A letter's job arguments
are never shown (they name targets and payload parts); its error text was scrubbed when
stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.exceptions import NotFound
from gateway.ui.http import Console
from gateway.ui.incident_pages import incident_path
from gateway.ui.session import Viewer


class Letter(Protocol):
    """What the page shows of a dead letter."""

    @property
    def id(self) -> str: ...
    @property
    def incident(self) -> str: ...
    @property
    def func(self) -> str: ...
    @property
    def error(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def failed_at(self) -> str: ...


class LetterBox(Protocol):
    """The dead-letter registry as the page reads it."""

    def list(self) -> Sequence[Letter]: ...
    def request_replay(self, letter_id: str) -> bool: ...
    def replays_requested(self) -> Sequence[str]: ...


class DeadLetterPage:
    def __init__(self, console: Console, letters: LetterBox) -> None:
        self._console = console
        self._letters = letters

    def routes(self) -> list[Route]:
        c = self._console
        return [
            Route("/dead-letters", c.page(self.list), methods=["GET"]),
            Route("/dead-letters/{id}/replay", c.form(self.replay), methods=["POST"]),
        ]

    async def list(self, request: Request, viewer: Viewer) -> Response:
        call = self._console.services.call
        letters = await call(self._letters.list)
        requested = set(await call(self._letters.replays_requested))
        context = {
            "letters": list(reversed(letters)),
            "requested": requested,
            "incident_path": incident_path,
            "done": request.query_params.get("done", ""),
        }
        return self._console.pages.render(request, "dead_letters.html", context, viewer)

    async def replay(self, request: Request, viewer: Viewer, form: FormData) -> Response:
        letter_id = request.path_params["id"]
        if not await self._console.services.call(self._letters.request_replay, letter_id):
            raise NotFound(f"no dead letter {letter_id!r}")
        return RedirectResponse("/ui/dead-letters?done=replay", 303)
