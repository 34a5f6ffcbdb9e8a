"""Errors of the operator API beyond the gateway's own (`gateway.exceptions`)."""

from __future__ import annotations

from gateway.exceptions import GatewayError


class Conflict(GatewayError):
    """The incident is not in a state for this operation (e.g. already resolved)."""

    status_code = 409
