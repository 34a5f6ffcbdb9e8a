"""Paging the incident list: most severe first, then newest, `limit` at a time.

A cursor names the last incident of a page by its place in that order (severity, opened
at, key), not by an offset: an incident that opens or ends between two requests then
neither repeats one on the next page nor skips one. It is opaque to clients (URL-safe
base64 of JSON), so the order may change later without breaking them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from core.incidents.record import Incident
from core.models import SEVERITIES
from gateway.exceptions import BadPayload

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
Place = tuple[int, float, str]  # severity rank, minus the opening time, key


def place(incident: Incident) -> Place:
    """Where `incident` sorts: SEV1 before SEV2, then the newest first, then by key."""
    rank = SEVERITIES.index(incident.severity)
    return (rank, -incident.opened_at.timestamp(), incident.key)


def parse_limit(value: str | None) -> int:
    """`?limit=`: a whole number from 1 to MAX_LIMIT; DEFAULT_LIMIT when absent."""
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadPayload(f"limit: must be a whole number from 1 to {MAX_LIMIT}, not {value!r}")
    return int(value)


def encode_cursor(at: Place) -> str:
    return base64.urlsafe_b64encode(json.dumps(at).encode()).decode().rstrip("=")


def decode_cursor(value: str) -> Place:
    """The place a `?cursor=` names; BadPayload when it is not one this API gave out."""
    try:
        raw: Any = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        rank, opened, key = raw
        if isinstance(rank, int) and isinstance(opened, int | float) and isinstance(key, str):
            return (rank, float(opened), key)
    except (ValueError, TypeError, binascii.Error):
        pass
    raise BadPayload("cursor: not a cursor from this API (use next_cursor as given)")


def page(
    incidents: Sequence[Incident], limit: int, after: Place | None
) -> tuple[list[Incident], str | None]:
    """The `limit` incidents after `after` in the list's order, and the next page's cursor
    (None on the last page)."""
    ordered = sorted(incidents, key=place)
    rest = [i for i in ordered if after is None or place(i) > after]
    taken = rest[:limit]
    more = len(rest) > limit
    return taken, encode_cursor(place(taken[-1])) if more and taken else None
