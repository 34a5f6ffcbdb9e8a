"""Building deliveries as the app does: raw bytes, case-insensitive headers, a fixed clock."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import Headers

from core.settings import Settings
from gateway.sources.base import Delivery
from tests.conftest import payload

RECEIVED = datetime(2026, 3, 2, 10, 45, 0, tzinfo=UTC)


def delivery(
    body: bytes,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> Delivery:
    """A delivery of `body` received at RECEIVED."""
    all_headers = {"content-type": content_type, **(headers or {})}
    return Delivery(
        body=body, headers=Headers(all_headers), query=query or {}, received_at=RECEIVED
    )


def fixture(source: str, name: str) -> tuple[bytes, Any]:
    """A payload fixture's bytes and its parsed JSON."""
    body = payload(source, name)
    return body, json.loads(body)


def sign(secret: str, body: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, digest).hexdigest()


def settings(**values: Any) -> Settings:
    """Settings with the given secrets, unsigned requests refused unless said otherwise."""
    return Settings(**{"allow_unsigned": False, **values})
