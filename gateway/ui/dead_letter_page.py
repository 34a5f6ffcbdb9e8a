"""`/ui/dead-letters`: deliveries that ran out of retries, newest first.

The gateway does not import the workers: the registry is handed in by the app as
anything with `list()` (the workers' `DeadLetters`). A letter's job arguments are never
shown (they name targets and payload parts); its error text was scrubbed when stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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


class DeadLetterPage:
    def __init__(self, console: Console, letters: LetterBox) -> None:
        self._console = console
        self._letters = letters

    def routes(self) -> list[Route]:
        return [Route("/dead-letters", self._console.page(self.list), methods=["GET"])]

    async def list(self, request: Request, viewer: Viewer) -> Response:
        letters = await self._console.services.call(self._letters.list)
        context = {"letters": list(reversed(letters)), "incident_path": incident_path}
        return self._console.pages.render(request, "dead_letters.html", context, viewer)
