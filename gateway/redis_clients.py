"""The gateway's Redis clients: both fail fast, so a request waits ~1 s at most for a 503."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.settings import Settings


def _fail_fast() -> dict[str, Any]:
    return {
        "socket_connect_timeout": 1.0,
        "socket_timeout": 2.0,
        # one immediate retry covers a pooled connection that died with a Redis restart
        "retry": Retry(NoBackoff(), 1),
    }


def connect_async(settings: Settings) -> aioredis.Redis:
    """The webhook path's client (the hand-off)."""
    return aioredis.Redis.from_url(settings.redis_url, **_fail_fast())


def connect_sync(settings: Settings) -> redis.Redis:
    """The operator endpoints' client: the incident and silence stores are synchronous."""
    return redis.Redis.from_url(settings.redis_url, **_fail_fast())
