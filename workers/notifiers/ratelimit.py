"""A sliding-window rate limiter shared by every worker process through Redis.

PagerDuty accepts about 120 events a minute per integration key, counted over a 60-second
look-back window (https://developer.pagerduty.com/docs/events-api-v2-overview#rate-limits).
A sliding log (a sorted set of send times per key) enforces exactly that: at most `limit`
sends in any `window` seconds, across all processes, with no burst at window edges that a
fixed-window counter would allow. The log holds at most `limit` entries per key.

The slots go in order when callers say so (`acquire(ticket=, rank=)`): a message that has
to wait joins the waiters of its identity, ranked, and no message ranked after a live
waiter takes a slot before it, so the next free slot is the most urgent waiter's whoever
asks first (`turn`: by severity, then age, then action). PagerDuty meters each routing
key; Slack each channel (about one message a second, short bursts allowed:
https://api.slack.com/methods/chat.postMessage#rate_limiting), or each incoming webhook.

The identity (a routing key, a webhook URL) is a secret: only its SHA-256 appears in the
Redis key.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable

import redis

from workers.notifiers.base import Notification

Clock = Callable[[], float]  # seconds since the epoch, like time.time

# Drop the sends that left the window and the waiters not seen for `stale` seconds; take a
# slot if one is free and no fresher waiter ranks before this one, else join the waiters
# (by rank) and say how long to wait. Floats travel as strings: Lua numbers returned to
# Redis are truncated to integers.
# KEYS: the send log, the waiters (zset: ticket -> rank), when each waiter was last seen
# (hash). ARGV: now, window, limit, member, ticket ('' = no order), rank, stale.
_ACQUIRE = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ticket, rank, stale = ARGV[5], ARGV[6], tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local blocked = false
if ticket ~= '' then
  for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. rank, 'LIMIT', 0, 64)) do
    local seen = tonumber(redis.call('HGET', KEYS[3], w) or '0')
    if seen < now - stale then
      redis.call('ZREM', KEYS[2], w)
      redis.call('HDEL', KEYS[3], w)
    elseif w ~= ticket then
      blocked = true
      break
    end
  end
end
local full = redis.call('ZCARD', KEYS[1]) >= limit
if not blocked and not full then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  if ticket ~= '' then
    redis.call('ZREM', KEYS[2], ticket)
    redis.call('HDEL', KEYS[3], ticket)
  end
  return 'taken'
end
local wait = 0
if full then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = tonumber(oldest[2]) + window - now
end
if blocked then wait = wait + 1 end  -- after the waiter before it took that slot
if ticket ~= '' then
  redis.call('ZADD', KEYS[2], 'NX', rank, ticket)
  redis.call('HSET', KEYS[3], ticket, now)
  for i = 2, 3 do redis.call('PEXPIRE', KEYS[i], math.ceil((window + stale) * 1000)) end
end
return tostring(wait)
"""

# A waiter that has not asked again for this long is gone (its job died, or it was sent
# another way): it no longer holds back the ones after it.
STALE_SECONDS = 90.0


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

    def acquire(self, identity: str, ticket: str = "", rank: float = 0.0) -> float:
        """Take one slot: 0.0 when taken, else the seconds until one frees (nothing taken).

        With a `ticket` (one per message, the same on every try) the slots go in `rank`
        order, lowest first: a message that must wait joins the identity's waiters, and
        while a waiter of a lower rank is there (and asked within STALE_SECONDS) no higher
        rank takes a slot, even a free one. Without a ticket, first come, first served."""
        now = self._clock()
        # a unique member: two sends in the same instant are two sends
        member = f"{now!r}:{uuid.uuid4().hex[:12]}"
        args: list[str | int] = [repr(now), repr(self._window), self._limit, member]
        args += [ticket, repr(rank), repr(STALE_SECONDS)]
        key = self.key(identity)
        answer = self._script(keys=[key, f"{key}:waiting", f"{key}:seen"], args=args)
        if answer == b"taken":
            return 0.0
        # never "retry in 0 s" while the window is full (float rounding at its edge)
        return max(float(answer), 0.001)

    def __repr__(self) -> str:
        return f"RateLimiter({self._prefix!r}, {self._limit} per {self._window}s)"


# Within one incident its first message goes before the rest, and the resolve last: a
# trigger (PagerDuty's event, Slack's root message) before the replies and edits that
# need it, an acknowledgement before a resolve.
_ACTION_ORDER = {"trigger": 0, "escalate": 0, "acknowledge": 1, "resolve": 2}
_OTHERS = 1  # Slack's replies and edits: after the root, before the resolve


def turn(notification: Notification) -> tuple[str, float]:
    """The ticket and rank of a notification in its target's sending order.

    Most severe first, then the oldest incident, then trigger, the rest, resolve: an
    incident's resolve never goes before its own trigger. The ticket names the message
    (the same on every try); the rank fits a double exactly (< 2**53)."""
    incident = notification.incident
    ticket = hashlib.sha256(
        f"{incident.key}\0{notification.action}\0{notification.text}".encode()
    ).hexdigest()[:24]
    opened = incident.opened_at.timestamp() if incident.opened_at else 0.0
    severity = int(incident.severity.removeprefix("SEV"))
    order = _ACTION_ORDER.get(notification.action, _OTHERS)
    rank = severity * 10**14 + int(opened * 1000) * 10 + order
    return ticket, float(rank)
