"""Self-monitoring: alertgw reports its own errors to Sentry, with every secret scrubbed.

Set SENTRY_DSN (and SENTRY_ENVIRONMENT) to turn it on. `before_send` removes what must
never leave the process: signature and authorization headers, query tokens, every
configured secret value, PagerDuty routing keys and Slack webhook URLs and tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.types import Event, Hint

from core.rules.model import Policy
from core.settings import Settings

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
    """A `before_send` hook replacing secret values anywhere in an event.

    `secrets` is iterated again for every event: pass a `RuleSecrets` in it and routing
    keys or webhook URLs that a rules reload added are scrubbed from then on.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = secrets

    def __call__(self, event: Event, hint: Hint) -> Event:
        request = event.get("request")
        headers = request.get("headers") if isinstance(request, dict) else None
        if isinstance(request, dict) and isinstance(headers, dict):
            request["headers"] = {
                k: FILTERED if k.lower() in SECRET_HEADERS else v for k, v in headers.items()
            }
        # longest first, so a secret that contains another is replaced whole
        secrets = sorted({s for s in self._secrets if len(s) >= 4}, key=len, reverse=True)
        scrubbed: Event = _clean(event, secrets)
        return scrubbed


def _clean(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, dict):
        return {k: _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, secrets) for v in value]
    return value


def scrub_text(value: str, secrets: Iterable[str]) -> str:
    """`value` with each of `secrets` and every secret-shaped string replaced."""
    for secret in secrets:
        value = value.replace(secret, FILTERED)
    for pattern in SECRET_PATTERNS:
        value = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + FILTERED, value)
    return value


class Secrets:
    """Every secret value alertgw knows of: the settings' and the rules' (re-read)."""

    def __init__(self, settings: Settings, extra: Iterable[str] = ()) -> None:
        self._settings = [v for field in SECRET_FIELDS for v in settings.secrets(field)]
        self._extra = extra

    def __iter__(self) -> Iterator[str]:
        yield from self._settings
        yield from (v for v in self._extra if v)


class RuleSecrets:
    """The credentials in the rules that are active now, read at each iteration."""

    def __init__(self, current: Callable[[], Policy]) -> None:
        self._current = current

    def __iter__(self) -> Iterator[str]:
        return iter(policy_secrets(self._current()))


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
    """Start the Sentry SDK when SENTRY_DSN is set; returns whether it did.

    `extra_secrets` (e.g. a `RuleSecrets`) is iterated again for every event.
    """
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        release=f"alertgw@{version('alertgw')}",
        server_name=component,
        integrations=[StarletteIntegration(), RqIntegration()],
        before_send=Scrubber(Secrets(settings, extra_secrets)),
    )
    sentry_sdk.set_tag("component", component)
    return True
