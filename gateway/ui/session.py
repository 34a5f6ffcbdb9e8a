"""Who is looking at the console, and whether a form really comes from it.

Three ways in, the first that applies wins:

1. `ALERTGW_UI_USER_HEADER` set: a reverse proxy (oauth2-proxy and the like) has signed
   the user in and names them in that header. Opt-in: without it the header is ignored.
2. No `ALERTGW_API_TOKEN` but unsigned requests allowed (loopback `alertgw up`): open,
   as the API is.
3. The API token: as `Authorization: Bearer` (scripts), or typed once into the login
   form, which sets a signed, HttpOnly, SameSite=Lax session cookie naming the user.

Every state-changing request carries a CSRF token: the value of a signed, HttpOnly,
SameSite=Strict cookie, echoed in the form (`csrf`) or the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from core.settings import Settings
from gateway.exceptions import Forbidden, Unauthorized
from gateway.sources.base import any_equal

SESSION_COOKIE = "alertgw_session"
CSRF_COOKIE = "alertgw_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600  # one on-call shift; then the token is asked again
COOKIE_PATH = "/ui"


@dataclass(frozen=True)
class Viewer:
    """The person (or script) using the console; `name` goes into incident timelines."""

    name: str
    via: str  # "session", "bearer", "proxy" or "open"

    @property
    def can_log_out(self) -> bool:
        return self.via == "session"


class Gate:
    """Decides who a request comes from, and signs the console's cookies."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._serializer = URLSafeTimedSerializer(_secret(settings), salt="alertgw-ui")

    @property
    def needs_login(self) -> bool:
        """Whether the login form is the way in (an API token and no trusted proxy)."""
        return not self._settings.ui_user_header and bool(self._tokens())

    def viewer(self, request: Request) -> Viewer:
        """The viewer, or Unauthorized saying what is missing."""
        header = self._settings.ui_user_header
        if header:
            name = request.headers.get(header, "").strip()
            if not name:
                raise Unauthorized(f"the proxy did not name a user ({header} is missing)")
            return Viewer(name[:200], "proxy")
        tokens = self._tokens()
        if not tokens:
            if self._settings.allow_unsigned:
                return Viewer("local", "open")
            raise Unauthorized("ALERTGW_API_TOKEN is not set; the console refuses everyone")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            if any_equal(token.strip(), tokens):
                return Viewer("api", "bearer")
            raise Unauthorized("invalid or missing credentials")
        user = self._session_user(request)
        if user is None:
            raise Unauthorized("log in first")
        return Viewer(user, "session")

    def check_token(self, token: str) -> bool:
        """Whether a token typed into the login form is the API token."""
        tokens = self._tokens()
        return bool(tokens) and any_equal(token.strip(), tokens)

    def start_session(self, response: Response, request: Request, name: str) -> None:
        value = self._serializer.dumps({"user": name}, salt="session")
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def end_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)

    def csrf_token(self, request: Request) -> str:
        """The token this browser's forms carry: its cookie's, or a new one."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if self._valid_csrf(cookie):
            return cookie
        return str(self._serializer.dumps(secrets.token_urlsafe(16), salt="csrf"))

    def keep_csrf(self, response: Response, request: Request, token: str) -> None:
        """Set the CSRF cookie when the page just made a new token."""
        if request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(
                CSRF_COOKIE,
                token,
                path=COOKIE_PATH,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )

    def check_csrf(self, request: Request, submitted: str) -> None:
        """Forbidden unless the form or header echoes this browser's signed CSRF cookie."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        given = submitted or request.headers.get(CSRF_HEADER, "")
        if not (given and self._valid_csrf(cookie) and hmac.compare_digest(given, cookie)):
            raise Forbidden("missing or invalid CSRF token; reload the page and try again")

    def _valid_csrf(self, value: str) -> bool:
        try:
            self._serializer.loads(value, salt="csrf")
        except BadSignature:
            return False
        return True

    def _session_user(self, request: Request) -> str | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, salt="session", max_age=SESSION_SECONDS)
        except BadSignature:  # also expired (SignatureExpired is a BadSignature)
            return None
        user = data.get("user") if isinstance(data, dict) else None
        return user if isinstance(user, str) and user else None

    def _tokens(self) -> list[str]:
        return self._settings.secrets("api_token")


def _secret(settings: Settings) -> bytes:
    """The cookie-signing key: set explicitly, else derived from the API token (so every
    gateway replica agrees, and rotating the token ends every session), else per process."""
    if settings.ui_session_secret is not None:
        return settings.ui_session_secret.get_secret_value().encode()
    tokens = settings.secrets("api_token")
    if tokens:
        return hashlib.sha256(b"alertgw-ui-session:" + tokens[0].encode()).digest()
    return secrets.token_bytes(32)
