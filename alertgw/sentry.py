"""Self-monitoring: alertgw reports its own errors to Sentry, with every secret scrubbed.

Set SENTRY_DSN (and SENTRY_ENVIRONMENT) to turn it on. `before_send` removes what must
never leave the process: signature and authorization headers, query tokens, every
configured secret value, PagerDuty routing keys and Slack webhook URLs and tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.metadata import version
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.types import Event, Hint

from gateway.rules.model import Policy
from gateway.settings import Settings

FILTERED = "[Filtered]"
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "sentry-hook-signature",
        "x-vercel-signature",
        "x-pagerduty-signature",
        "x-slack-signature",
    }
)
# Shapes of secrets that may sit in an error message even when we never configured them.
SECRET_PATTERNS = (
    re.compile(r"https://hooks\.slack\.com/\S+"),  # a Slack webhook URL is its own secret
    re.compile(r"xox[abposr]-[\w-]+"),  # Slack tokens
    re.compile(r"\b[0-9a-f]{32}\b"),  # PagerDuty integration (routing) keys
    re.compile(r"([?&](?:token|key|secret|signature)=)[^&\s\"']+", re.IGNORECASE),
)
SECRET_FIELDS = (
    "sentry_client_secret",
    "sentry_legacy_token",
    "vercel_secret",
    "alertmanager_token",
    "datadog_token",
    "pagerduty_webhook_secret",
    "slack_signing_secret",
    "api_token",
    "slack_bot_token",
)


class Scrubber:
    """A `before_send` hook replacing secret values anywhere in an event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # longest first, so a secret that contains another is replaced whole
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, event: Event, hint: Hint) -> Event:
        request = event.get("request")
        headers = request.get("headers") if isinstance(request, dict) else None
        if isinstance(request, dict) and isinstance(headers, dict):
            request["headers"] = {
                k: FILTERED if k.lower() in SECRET_HEADERS else v for k, v in headers.items()
            }
        scrubbed: Event = self._clean(event)
        return scrubbed

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def text(self, value: str) -> str:
        """`value` with every known secret and secret-shaped string replaced."""
        for secret in self._secrets:
            value = value.replace(secret, FILTERED)
        for pattern in SECRET_PATTERNS:
            value = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + FILTERED, value)
        return value


def configured_secrets(settings: Settings, extra: Iterable[str] = ()) -> list[str]:
    """Every secret value alertgw knows of: settings plus e.g. the rules' routing keys."""
    values = [v for field in SECRET_FIELDS for v in settings.secrets(field)]
    return values + [v for v in extra if v]


def policy_secrets(policy: Policy) -> list[str]:
    """The credentials written into the rule files: routing keys and webhook URLs."""
    values = []
    for target in policy.targets.values():
        if target.pagerduty:
            values.append(target.pagerduty.routing_key)
        if target.slack and target.slack.webhook_url:
            values.append(target.slack.webhook_url)
    return values


def init_sentry(settings: Settings, component: str, extra_secrets: Iterable[str] = ()) -> bool:
    """Start the Sentry SDK when SENTRY_DSN is set; returns whether it did."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        release=f"alertgw@{version('alertgw')}",
        server_name=component,
        integrations=[StarletteIntegration(), RqIntegration()],
        before_send=Scrubber(configured_secrets(settings, extra_secrets)),
    )
    sentry_sdk.set_tag("component", component)
    return True
