"""Authentication of alertgw's own endpoints (reload, API) with ALERTGW_API_TOKEN."""

from __future__ import annotations

from starlette.requests import Request

from core.settings import Settings
from gateway.sources.base import check_authorization, credentials


def require_api_token(request: Request, settings: Settings) -> None:
    """Raise Unauthorized unless the request carries `Authorization: Bearer <API token>`."""
    secrets = credentials(settings, "api_token")
    if secrets is not None:
        check_authorization(request.headers.get("authorization", ""), secrets)
