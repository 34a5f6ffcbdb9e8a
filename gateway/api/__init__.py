"""The operator API, `/api/v1`: incidents, their postmortems, silences; bearer ALERTGW_API_TOKEN.

Errors are JSON `{"error": "..."}`; bodies are validated with the pydantic models in
`gateway.api.models`; the OpenAPI document is served at `/api/v1/openapi.json`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from gateway.api.incidents import IncidentsApi
from gateway.api.openapi import openapi_document
from gateway.api.postmortems import PostmortemsApi
from gateway.api.services import Services
from gateway.api.silences import SilencesApi
from gateway.api.updates import StatusUpdatesApi

PREFIX = "/api/v1"


async def openapi(request: Request) -> JSONResponse:
    # public: the schema holds no data, and tools fetch it without credentials
    return JSONResponse(openapi_document())


def api_mount(services: Services) -> Mount:
    """`/api/v1` with every API route under it."""
    routes: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
    # before the incidents' routes, whose `{key:path}` would take the rest of the path
    routes += PostmortemsApi(services).routes()
    routes += StatusUpdatesApi(services).routes()
    routes += IncidentsApi(services).routes()
    routes += SilencesApi(services).routes()
    return Mount(PREFIX, routes=routes)
