"""The operator's console at `/ui/`: server-rendered pages (Jinja2) with htmx, no build step.

`console_routes` returns the `/ui` routes; docs/ui.md says what each page does and how
people sign in (gateway.ui.session).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from core.rules.model import Policy
from gateway.api.services import Services
from gateway.ui.dead_letter_page import DeadLetterPage, LetterBox
from gateway.ui.http import Console
from gateway.ui.incident_pages import IncidentPages
from gateway.ui.login import LoginPages
from gateway.ui.playground import PlaygroundPage
from gateway.ui.render import STATIC, Pages
from gateway.ui.session import Gate
from gateway.ui.silence_pages import SilencePages


def console_routes(
    services: Services, policy: Callable[[], Policy], letters: LetterBox
) -> list[BaseRoute]:
    """`/ui` and everything under it."""
    gate = Gate(services.settings)
    console = Console(services, policy, gate, Pages(gate))
    routes: list[BaseRoute] = [Mount("/static", StaticFiles(directory=STATIC), name="static")]
    routes += LoginPages(console).routes()
    routes += IncidentPages(console).routes()
    routes += SilencePages(console).routes()
    routes += PlaygroundPage(console).routes()
    routes += DeadLetterPage(console, letters).routes()
    return [Route("/ui", _to_board), Mount("/ui", routes=routes)]


async def _to_board(request: Request) -> Response:
    return RedirectResponse("/ui/", 308)
