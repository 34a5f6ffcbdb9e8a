"""A sliding-window rate limiter shared by every worker process through Redis.

PagerDuty accepts about 120 events a minute per integration key, counted over a 60-second
look-back window (https://developer.pagerduty.com/docs/events-api-v2-overview#rate-limits).
A sliding log (a sorted set of send times per key) enforces exactly that: at most `limit`
sends in any `window` seconds, across all processes, with no burst at window edges that a
fixed-window counter would allow. The log holds at most `limit` entries per key.

The identity (a routing key) is a secret: only its SHA-256 appears in the Redis key.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable

import redis

Clock = Callable[[], float]  # seconds since the epoch, like time.time

# Drop the sends that left the window; take a slot if one is free, else say how long until
# the oldest send leaves the window. Floats travel as strings: Lua numbers returned to
# Redis are truncated to integers.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return 'taken'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


class RateLimiter:
    """At most `limit` acquisitions per identity in any `window` seconds."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        name: str,
        limit: int,
        window: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"rate limit {limit} per {window}s is not a positive rate")
        self._prefix = f"{prefix}ratelimit:{name}:"
        self._limit = limit
        self._window = window
        self._clock = clock
        self._script = client.register_script(_ACQUIRE)

    def key(self, identity: str) -> str:
        """The Redis key of an identity's send log (its hash, never the identity)."""
        return self._prefix + hashlib.sha256(identity.encode()).hexdigest()[:32]

    def acquire(self, identity: str) -> float:
        """Take one slot: 0.0 when taken, else the seconds until one frees (nothing taken)."""
        now = self._clock()
        # a unique member: two sends in the same instant are two sends
        member = f"{now!r}:{uuid.uuid4().hex[:12]}"
        args: list[str | int] = [repr(now), repr(self._window), self._limit, member]
        answer = self._script(keys=[self.key(identity)], args=args)
        if answer == b"taken":
            return 0.0
        # never "retry in 0 s" while the window is full (float rounding at its edge)
        return max(float(answer), 0.001)

    def __repr__(self) -> str:
        return f"RateLimiter({self._prefix!r}, {self._limit} per {self._window}s)"
