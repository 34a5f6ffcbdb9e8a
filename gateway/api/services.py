"""What the API and the vendor callbacks share: a sync Redis client, the stores, a clock.

The incident and silence stores are synchronous (the workers use them too), so request
handlers call them through `call`, which runs them in the thread pool and turns an
unreachable Redis into a 503 the client can retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

import redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from core.handoff import DELIVERY_ID_TTL_SECONDS, delivery_key
from core.incidents.store import IncidentStore
from core.reload import LivePolicy
from core.settings import Settings
from core.silences import SilenceStore
from gateway.exceptions import HandoffUnavailable
from gateway.redis_clients import connect_sync

P = ParamSpec("P")
R = TypeVar("R")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything an operator endpoint needs; `clock` is passed in so tests set the time."""

    settings: Settings
    redis: redis.Redis
    incidents: IncidentStore
    silences: SilenceStore
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def connect(
        cls, settings: Settings, policy: LivePolicy, clock: Callable[[], datetime] = utc_now
    ) -> Services:
        client = connect_sync(settings)
        prefix = settings.redis_prefix
        # a resolve keeps the incident readable for the window of the rules active then
        window = policy.current.dedupe_window
        incidents = IncidentStore(client, prefix, window, window_of=_window_of(policy))
        return cls(settings, client, incidents, SilenceStore(client, prefix), clock)

    async def call(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a store call off the event loop; Redis being down is a 503, not a 500."""
        try:
            return await run_in_threadpool(func, *args, **kwargs)
        except RedisError as error:
            raise HandoffUnavailable(
                f"cannot reach Redis, retry later ({type(error).__name__})"
            ) from None

    def seen(self, vendor: str, delivery_id: str) -> bool:
        """Whether a vendor's delivery (webhook id, click) was already processed."""
        return bool(
            self.redis.exists(delivery_key(self.settings.redis_prefix, vendor, delivery_id))
        )

    def remember(self, vendor: str, delivery_id: str) -> bool:
        """Record a processed delivery; False when it was recorded already (a race lost)."""
        key = delivery_key(self.settings.redis_prefix, vendor, delivery_id)
        return bool(self.redis.set(key, "1", nx=True, ex=DELIVERY_ID_TTL_SECONDS))


def _window_of(policy: LivePolicy) -> Callable[[], timedelta]:
    return lambda: policy.current.dedupe_window
