"""Notifiers: one module per vendor behind the `Notifier` Protocol in `base`."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from core.settings import Settings
from workers.notifiers.base import Notifier
from workers.notifiers.pagerduty import PagerDutyNotifier
from workers.notifiers.ratelimit import RateLimiter
from workers.notifiers.slack import SlackNotifier

__all__ = ["PagerDutyNotifier", "SlackNotifier", "build_notifiers", "close_notifiers"]


def build_notifiers(settings: Settings, redis: redis.Redis) -> list[Notifier]:
    """The live notifiers for `settings` (PagerDuty, Slack); first `handles` match wins."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return [
        PagerDutyNotifier(
            str(settings.pagerduty_events_url),
            redis,
            settings.redis_prefix,
            limit_per_minute=settings.pagerduty_limit_per_minute,
        ),
        SlackNotifier(
            str(settings.slack_api_url),
            token,
            limiter=RateLimiter(
                redis, settings.redis_prefix, "slack", settings.slack_limit_per_minute
            ),
        ),
    ]


def close_notifiers(notifiers: Iterable[Notifier]) -> None:
    """Close the notifiers' HTTP connections (PagerDuty's shared connection pool)."""
    for notifier in notifiers:
        close = getattr(notifier, "close", None)
        if callable(close):
            close()
