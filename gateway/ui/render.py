"""The console's Jinja2 environment: templates, static files, and the filters they use."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from gateway.ui.session import Gate, Viewer

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
HTMX = "htmx-2.0.11.min.js"  # pinned: the file name says which release is shipped
SEVERITY_CLASS = {"SEV1": "sev1", "SEV2": "sev2", "SEV3": "sev3", "SEV4": "sev4"}


def age(delta: timedelta) -> str:
    """'45s', '12m', '3h 5m', '2d 4h': how long ago, at a glance."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def utc(moment: datetime | None) -> str:
    """ISO 8601 in UTC, what `<time datetime>` and its hover text carry."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def safe_href(href: str) -> str:
    """A link from an alert, only if it is http(s): a payload may carry `javascript:`."""
    return href if urlsplit(href).scheme in ("http", "https") else "#"


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["age"] = age
templates.env.filters["utc"] = utc
templates.env.filters["safe_href"] = safe_href
templates.env.globals["htmx"] = HTMX
templates.env.globals["severity_class"] = SEVERITY_CLASS


class Pages:
    """Renders a console page with what every page needs: viewer, CSRF token, nav."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        viewer: Viewer | None,
        status_code: int = 200,
    ) -> HTMLResponse:
        token = self.gate.csrf_token(request)
        values = {"viewer": viewer, "csrf": token, **context}
        response = templates.TemplateResponse(request, name, values, status_code=status_code)
        self.gate.keep_csrf(response, request, token)
        # pages hold live incident data: never cached, never framed by another site
        response.headers["cache-control"] = "no-store"
        response.headers["x-frame-options"] = "DENY"
        response.headers["content-security-policy"] = (
            "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
        )
        return response
