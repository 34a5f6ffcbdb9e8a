"""What a source is: one module per monitoring tool behind this small Protocol."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from core.models import Alert, SourceName
from core.settings import Settings, env_name
from gateway.exceptions import BadPayload, Unauthorized, UnsupportedMediaType


@dataclass(frozen=True)
class Delivery:
    """One webhook request as a source sees it: raw bytes, headers, query, arrival time."""

    body: bytes
    headers: Mapping[str, str]  # case-insensitive (starlette Headers) in the app
    query: Mapping[str, str]
    received_at: datetime

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Source(Protocol):
    """A monitoring tool that posts webhooks to `/webhooks/<name>`."""

    @property
    def name(self) -> SourceName:
        """The source's name: its URL path and its `source` label."""

    def verify(self, delivery: Delivery, settings: Settings) -> None:
        """Raise Unauthorized unless the delivery is authentic."""

    def parse(self, delivery: Delivery) -> Any:
        """Decode the body; raise UnsupportedMediaType or BadPayload."""

    def normalize(self, payload: Any, delivery: Delivery) -> list[Alert]:
        """Map a parsed payload to canonical alerts. Pure: no I/O, no clock, no globals."""

    def delivery_id(self, payload: Any, delivery: Delivery) -> str | None:
        """The sender's id of this delivery, when redeliveries must be processed once."""


# --- helpers the sources share -----------------------------------------------------------

UNAUTHORIZED = "invalid or missing credentials"


def credentials(settings: Settings, field: str) -> list[str] | None:
    """The accepted secrets of `field`; None when unsigned requests are allowed.

    A source whose secret is unset refuses everything (naming the variable, so the
    operator knows what to set), unless ALERTGW_ALLOW_UNSIGNED is on.
    """
    secrets = settings.secrets(field)
    if secrets:
        return secrets
    if settings.allow_unsigned:
        return None
    raise Unauthorized(f"{env_name(field)} is not set; this source refuses every request")


def check_bearer(delivery: Delivery, secrets: Sequence[str]) -> None:
    """Accept `Authorization: Bearer <one of secrets>`, compared in constant time."""
    check_authorization(delivery.headers.get("authorization", ""), secrets)


def check_authorization(header: str, secrets: Sequence[str]) -> None:
    """Accept an Authorization header value `Bearer <one of secrets>`."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not any_equal(token.strip(), secrets):
        raise Unauthorized(UNAUTHORIZED)


def check_hmac(signature: str, body: bytes, secrets: Sequence[str], digest: str = "sha256") -> None:
    """Accept a hex HMAC of the raw body under any of `secrets` (rotation)."""
    expected = [hmac.new(s.encode(), body, digest).hexdigest() for s in secrets]
    if not signature or not any_equal(signature.strip().lower(), expected):
        raise Unauthorized(UNAUTHORIZED)


def any_equal(given: str, accepted: Sequence[str]) -> bool:
    """Constant-time membership: every candidate is compared, none short-circuits."""
    matched = False
    for candidate in accepted:
        matched |= hmac.compare_digest(given.encode(), candidate.encode())
    return matched


def parse_json(delivery: Delivery) -> Any:
    """Decode a JSON body, refusing other content types and anything malformed."""
    if delivery.content_type != "application/json" and not delivery.content_type.endswith("+json"):
        raise UnsupportedMediaType("expected Content-Type: application/json")
    return decode_json(delivery.body)


def decode_json(body: bytes) -> Any:
    """Parse a JSON body; every way a body can be bad becomes BadPayload.

    pydantic-core's parser, not the json module: about twice as fast on a webhook, and
    it refuses by itself what json.loads lets through and every later encode() would
    choke on (a lone UTF-16 surrogate escape). Nesting is capped at 200 levels.
    """
    try:
        return pydantic_core.from_json(body)
    except ValueError as error:
        raise BadPayload(_why_not_json(body, error)) from None


def _why_not_json(body: bytes, error: ValueError) -> str:
    reason = str(error)
    if "recursion limit" in reason:
        return "body is nested too deeply"
    try:
        body.decode()
    except UnicodeDecodeError:
        return "body is not valid UTF-8"
    return f"body is not valid JSON: {reason}"


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], payload: Any) -> M:
    """Validate a payload against a vendor-shape model; BadPayload names the field."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise BadPayload(describe_validation(error)) from None
    except RecursionError:
        raise BadPayload("body is nested too deeply") from None


def describe_validation(error: ValidationError) -> str:
    """'alerts.0.labels: Input should be a valid dictionary' for the first few problems."""
    parts = []
    for problem in error.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in problem["loc"]) or "body"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def fingerprint_of(labels: Mapping[str, str]) -> str:
    """A stable hash of a label set, for sources that send no fingerprint of their own."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
