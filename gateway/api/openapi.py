"""The OpenAPI 3.1 document of `/api/v1`, built from the pydantic models it validates with."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.api.models import (
    ErrorOut,
    HeartbeatList,
    HeartbeatOut,
    IncidentDetail,
    IncidentList,
    IncidentOut,
    NoteIn,
    Operation,
    PauseIn,
    PostmortemIn,
    PostmortemOut,
    SilenceIn,
    SilenceList,
    SilenceOut,
    StatusUpdateIn,
)

MODELS: tuple[type[BaseModel], ...] = (
    ErrorOut,
    HeartbeatList,
    HeartbeatOut,
    IncidentDetail,
    IncidentList,
    IncidentOut,
    NoteIn,
    Operation,
    PauseIn,
    PostmortemIn,
    PostmortemOut,
    SilenceIn,
    SilenceList,
    SilenceOut,
    StatusUpdateIn,
)
KEY = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The incident key, percent-encoded (`#` as %23; `/` may stay as is).",
}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _op(
    summary: str,
    ok: tuple[int, type[BaseModel], str],
    body: type[BaseModel] | None = None,
    params: list[dict[str, Any]] | None = None,
    optional_body: bool = False,
) -> dict[str, Any]:
    code, model, text = ok
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": {
            str(code): _json(model, text),
            "400": _json(ErrorOut, "invalid input; the message names the field"),
            "401": _json(ErrorOut, "missing or bad API token"),
            "404": _json(ErrorOut, "no such incident or silence"),
            "503": _json(ErrorOut, "Redis unreachable; retry"),
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": not optional_body,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return operation


def _query(name: str, values: list[str]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"enum": values}}


def _query_text(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document; built once per process."""
    _, schemas = models_json_schema(
        [(m, "validation") for m in MODELS], ref_template="#/components/schemas/{model}"
    )
    incident = (200, IncidentOut, "the incident after the change")
    conflict = {"409": _json(ErrorOut, "the incident is not in a state for this")}
    ack = _op("Acknowledge: stops escalation", incident, Operation, [KEY], optional_body=True)
    resolve = _op("Resolve: cancels pending steps", incident, Operation, [KEY], optional_body=True)
    update = _op(
        "Post a status update (INCIDENT UPDATE in the thread, root Status edited)",
        (201, IncidentOut, "the incident"),
        StatusUpdateIn,
        [KEY],
    )
    for operation in (ack, resolve, update):
        operation["responses"].update(conflict)
    paths = {
        "/api/v1/incidents": {
            "get": _op(
                "List incidents, most severe first, then newest; a page at a time",
                (200, IncidentList, "a page of the incidents, and how many match"),
                params=[
                    _query("status", ["open", "acknowledged", "resolved"]),
                    _query("severity", ["SEV1", "SEV2", "SEV3", "SEV4"]),
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "description": "incidents per page (default 100)",
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "next_cursor of the previous page",
                    },
                ],
            )
        },
        "/api/v1/incidents/{key}": {
            "get": _op(
                "One incident with its timeline and alerts",
                (200, IncidentDetail, "it"),
                params=[KEY],
            )
        },
        "/api/v1/incidents/{key}/ack": {"post": ack},
        "/api/v1/incidents/{key}/resolve": {"post": resolve},
        "/api/v1/incidents/{key}/notes": {
            "post": _op("Add a note", (201, IncidentOut, "the incident"), NoteIn, [KEY])
        },
        "/api/v1/incidents/{key}/updates": {"post": update},
        "/api/v1/incidents/{key}/postmortem.md": {
            "get": {
                "summary": "The postmortem draft, in Markdown, from the incident's record",
                "parameters": [KEY, _query_text("inc", "which incarnation (default: latest)")],
                "responses": {
                    "200": {
                        "description": "the draft",
                        "content": {"text/markdown": {"schema": {"type": "string"}}},
                    },
                    "404": _json(ErrorOut, "no postmortem for this incident"),
                },
            }
        },
        "/api/v1/incidents/{key}/postmortem": {
            "get": _op(
                "A postmortem's state",
                (200, PostmortemOut, "it"),
                params=[KEY, _query_text("inc", "which incarnation (default: latest)")],
            ),
            "post": _op(
                "Mark the postmortem done with the written document's link (stops reminders)",
                (200, PostmortemOut, "it, done"),
                PostmortemIn,
                [KEY],
            ),
        },
        "/api/v1/silences": {
            "get": _op(
                "List silences",
                (200, SilenceList, "the silences"),
                params=[_query("state", ["pending", "active", "expired"])],
            ),
            "post": _op("Create a silence", (201, SilenceOut, "the new silence"), SilenceIn),
        },
        "/api/v1/silences/{id}": {
            "delete": _op(
                "Expire a silence now",
                (200, SilenceOut, "the expired silence"),
                params=[
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
    }
    paths.update(_heartbeat_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "alertgw operator API", "version": "1"},
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _heartbeat_paths() -> dict[str, Any]:
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    beat = (200, HeartbeatOut, "the heartbeat")
    return {
        "/api/v1/heartbeats": {
            "get": _op("List heartbeats with their state", (200, HeartbeatList, "them"))
        },
        "/api/v1/heartbeats/{name}/pause": {
            "post": _op("Pause: no deadline until resumed", beat, PauseIn, [name], True)
        },
        "/api/v1/heartbeats/{name}/resume": {
            "post": _op("Resume: a full period and grace from now", beat, params=[name])
        },
    }
