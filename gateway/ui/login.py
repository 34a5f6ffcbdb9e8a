"""`/ui/login` and `/ui/logout`: the API token, typed once, becomes a session cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.exceptions import GatewayError
from gateway.ui.http import MAX_FORM_FIELDS, Console, field

MAX_NAME = 100


class LoginPages:
    def __init__(self, console: Console) -> None:
        self._console = console

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.page, methods=["GET"]),
            Route("/login", self.log_in, methods=["POST"]),
            Route("/logout", self.log_out, methods=["POST"]),
        ]

    async def page(self, request: Request) -> Response:
        target = local_path(request.query_params.get("next", ""))
        if not self._console.gate.needs_login:
            return RedirectResponse(target, 303)  # open, or signed in by the proxy
        return self._form(request, target, "", 200)

    async def log_in(self, request: Request) -> Response:
        gate = self._console.gate
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
            target = local_path(field(form, "next"))
            try:
                gate.check_csrf(request, field(form, "csrf"))
            except GatewayError as error:
                return self._console.error(request, None, error)
            name, token = field(form, "name", MAX_NAME), field(form, "token")
        if not name:
            return self._form(request, target, "Enter your name: it goes into timelines.", 400)
        if not gate.check_token(token):
            return self._form(request, target, "That is not the API token.", 401)
        response = RedirectResponse(target, 303)
        gate.start_session(response, request, name)
        return response

    async def log_out(self, request: Request) -> Response:
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
            try:
                self._console.gate.check_csrf(request, field(form, "csrf"))
            except GatewayError as error:
                return self._console.error(request, None, error)
        response = RedirectResponse("/ui/login", 303)
        self._console.gate.end_session(response)
        return response

    def _form(self, request: Request, target: str, error: str, status: int) -> Response:
        context = {"next": target, "error": error}
        return self._console.pages.render(request, "login.html", context, None, status)


def local_path(target: str) -> str:
    """Only a path of this console: never an open redirect to another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui/") or "\\" in target:
        return "/ui/"
    return target
