"""Request plumbing shared by the API handlers: auth, JSON bodies, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.services import Services
from gateway.auth import require_api_token
from gateway.body import read_body
from gateway.exceptions import GatewayError, UnsupportedMediaType
from gateway.sources.base import M, decode_json, validate
from gateway.webhooks import error_response

Handler = Callable[[Request], Awaitable[Response]]


def guarded(services: Services, handler: Handler) -> Handler:
    """Require the API token, and turn every GatewayError into its JSON answer."""

    async def endpoint(request: Request) -> Response:
        try:
            require_api_token(request, services.settings)
            return await handler(request)
        except GatewayError as error:
            return error_response(error)

    return endpoint


async def read_model(request: Request, services: Services, model: type[M]) -> M:
    """The JSON body validated against `model`; an empty body means all defaults."""
    body = await read_body(request, services.settings.max_body_bytes)
    if not body.strip():
        return validate(model, {})
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("expected Content-Type: application/json")
    return validate(model, decode_json(body))


def reply(model: BaseModel, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status)
