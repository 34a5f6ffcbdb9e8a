"""Errors of the gateway's request path; `gateway.app` maps each to its HTTP status."""

from __future__ import annotations


class GatewayError(Exception):
    """A request the gateway refuses; `str(error)` is safe to show to the client."""

    status_code = 400


class Unauthorized(GatewayError):
    """Missing or bad credentials (the message never says which check failed)."""

    status_code = 401


class Forbidden(GatewayError):
    """Authenticated, but not allowed to do this."""

    status_code = 403


class NotFound(GatewayError):
    """No such source, incident or silence."""

    status_code = 404


class PayloadTooLarge(GatewayError):
    """The body is larger than ALERTGW_MAX_BODY_BYTES."""

    status_code = 413


class UnsupportedMediaType(GatewayError):
    """The body is not of a content type the source sends."""

    status_code = 415


class BadPayload(GatewayError):
    """The body is not valid JSON or not shaped as the source documents it."""

    status_code = 400


class HandoffUnavailable(GatewayError):
    """Redis could not durably take the alerts; the sender should retry."""

    status_code = 503


class RequestTimeout(GatewayError):
    """The client sent its body too slowly."""

    status_code = 408
