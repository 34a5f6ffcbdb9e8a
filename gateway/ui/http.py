"""Request plumbing of the console: who may see a page, CSRF on every form, error pages."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from core.rules.model import Policy
from gateway.api.services import Services
from gateway.exceptions import GatewayError, Unauthorized
from gateway.ui.render import Pages
from gateway.ui.session import Gate, Viewer

log = logging.getLogger(__name__)

PageHandler = Callable[[Request, Viewer], Awaitable[Response]]
FormHandler = Callable[[Request, Viewer, FormData], Awaitable[Response]]
MAX_FORM_FIELDS = 50


@dataclass
class Console:
    """What every console handler needs."""

    services: Services
    policy: Callable[[], Policy]
    gate: Gate
    pages: Pages

    def page(self, handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        """A GET page: signed-in viewers only; others go to the login form (or a 401)."""

        async def endpoint(request: Request) -> Response:
            try:
                viewer = self.gate.viewer(request)
            except Unauthorized as error:
                return self.refused(request, error)
            try:
                return await handler(request, viewer)
            except GatewayError as error:
                return self.error(request, viewer, error)

        return endpoint

    def form(self, handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
        """A state-changing POST: a viewer and a valid CSRF token, else 401 / 403."""

        async def endpoint(request: Request) -> Response:
            try:
                viewer = self.gate.viewer(request)
            except Unauthorized as error:
                return self.error(request, None, error)
            try:
                async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
                    self.gate.check_csrf(request, _field(form, "csrf"))
                    return await handler(request, viewer, form)
            except GatewayError as error:
                return self.error(request, viewer, error)

        return endpoint

    def refused(self, request: Request, error: Unauthorized) -> Response:
        if self.gate.needs_login and "authorization" not in request.headers:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", 303)
        return self.error(request, None, error)

    def error(self, request: Request, viewer: Viewer | None, error: GatewayError) -> Response:
        context = {"title": f"Error {error.status_code}", "message": str(error)}
        return self.pages.render(request, "error.html", context, viewer, error.status_code)


def field(form: FormData, name: str, limit: int = 4000) -> str:
    """A text field of a form, stripped and capped (never a file)."""
    return _field(form, name)[:limit].strip()


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def acting(viewer: Viewer) -> str:
    """How the viewer is named in a timeline: 'alice (UI)'."""
    return f"{viewer.name} (UI)"
