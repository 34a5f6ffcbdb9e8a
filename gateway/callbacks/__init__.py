"""Vendor callbacks: what responders do in PagerDuty and Slack flows back into incidents."""

from __future__ import annotations

from starlette.routing import Route

from gateway.api.services import Services
from gateway.callbacks.pagerduty import PagerDutyCallback
from gateway.callbacks.slack import SlackActions


def callback_routes(services: Services) -> list[Route]:
    """The callback routes; list them before `/webhooks/{source}` so these paths win."""
    return [
        Route("/webhooks/pagerduty", PagerDutyCallback(services).handle, methods=["POST"]),
        Route("/slack/actions", SlackActions(services).handle, methods=["POST"]),
    ]
