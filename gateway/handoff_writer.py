"""The gateway's side of the hand-off to the workers: one Redis round trip per request.

Each classified alert is appended to the Redis Stream of its severity
(`<prefix>intake:SEV1` ... `SEV4`); workers read them through a consumer group, SEV1
first. A Lua script makes the request's entries, and the optional "seen this delivery
id" marker, one atomic step: either all are written or none, and a redelivery that
was already taken writes nothing.

Requests that hand off while another hand-off is on the wire wait for it and then go
together, as one call of the script that writes all of them (a group commit): under
load one round trip and one script run carry many requests, and an idle gateway still
sends each request at once. One batch is on the wire at a time, so requests reach
Redis in the order they came; a batch carries at most MAX_BATCH_ENTRIES entries.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.handoff import (
    DELIVERY_ID_TTL_SECONDS,
    ENTRY_JSON,
    HandoffEntry,
    delivery_key,
    stream_key,
)
from gateway.exceptions import HandoffUnavailable

# Entries per script call; one request's entries are never split, so a request larger
# than this goes alone. Redis runs a script without serving anyone else, about 15 us per
# entry: 256 entries hold it some 4 ms. Uncapped, 64 webhooks of 100 alerts made one
# call of 6,400 entries that held Redis for a tenth of a second, while the gateway,
# every request waiting on that call, sat idle. Capped, the gateway classifies the
# next requests while Redis writes.
MAX_BATCH_ENTRIES = 256

# KEYS: per request, its delivery marker ('' when it has none), then one stream per entry.
# ARGV: the marker TTL, then per request its entry count followed by its entries.
# Returns 1 per request written, 0 per redelivery already taken (nothing written).
_HANDOFF_SCRIPT = """
local taken = {}
local k, a = 1, 2
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local marker = KEYS[k]
  local fresh = marker == '' or redis.call('SET', marker, '1', 'NX', 'EX', ARGV[1])
  if fresh then
    for i = 1, n do
      redis.call('XADD', KEYS[k + i], '*', 'e', ARGV[a + i])
    end
    taken[#taken + 1] = 1
  else
    taken[#taken + 1] = 0
  end
  k = k + n + 1
  a = a + n + 1
end
return taken
"""


@dataclass
class _Call:
    """One request's script call, waiting for its batch's round trip."""

    keys: list[str]
    args: list[str | bytes]
    entries: int
    done: asyncio.Future[object]


class Handoff:
    """Writes classified alerts to the intake streams."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._waiting: deque[_Call] = deque()
        self._sender: asyncio.Task[None] | None = None

    async def put(
        self, entries: Sequence[HandoffEntry], delivery: tuple[str, str] | None = None
    ) -> bool:
        """Write all entries durably, or raise HandoffUnavailable.

        `delivery` is (source, delivery id) for senders that redeliver; returns False,
        writing nothing, when that delivery was already taken.
        """
        if not entries and delivery is None:
            return True
        marker = delivery_key(self._prefix, *delivery) if delivery else ""
        keys = [marker] + [stream_key(self._prefix, e.classification.severity) for e in entries]
        # bytes straight from pydantic-core: no str to decode and encode again
        args: list[str | bytes] = [str(len(entries))]
        args += [ENTRY_JSON.to_json(e) for e in entries]
        loop = asyncio.get_running_loop()
        call = _Call(keys, args, len(entries), loop.create_future())
        self._waiting.append(call)
        # done() turns true the moment the sender's loop returns: a request that comes
        # in after the last batch always starts a new sender (a test holds this)
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_waiting())
        try:
            written = await call.done
        except RedisError as error:
            raise HandoffUnavailable(
                f"cannot reach Redis, retry later ({type(error).__name__})"
            ) from None
        return bool(written)

    async def _send_waiting(self) -> None:
        # One batch on the wire at a time; whatever queued meanwhile goes next.
        while self._waiting:
            batch = self._next_batch()
            try:
                await self._send(batch)
            finally:
                # never leave a request waiting forever, whatever went wrong
                for call in batch:
                    if not call.done.done():
                        call.done.set_exception(RedisError("the hand-off batch was not sent"))

    def _next_batch(self) -> list[_Call]:
        """The oldest waiting requests, up to MAX_BATCH_ENTRIES entries (at least one)."""
        batch: list[_Call] = []
        size = 0
        while self._waiting and (not batch or size + self._waiting[0].entries <= MAX_BATCH_ENTRIES):
            call = self._waiting.popleft()
            # a request cancelled before its batch went (its client left) is not written
            if not call.done.done():
                batch.append(call)
                size += call.entries
        return batch

    async def _send(self, batch: list[_Call]) -> None:
        if not batch:
            return
        keys = [key for call in batch for key in call.keys]
        args = [str(DELIVERY_ID_TTL_SECONDS)] + [arg for call in batch for arg in call.args]
        # EVAL (not EVALSHA) cannot meet NOSCRIPT after a Redis restart or SCRIPT FLUSH;
        # Redis still compiles the script once and finds it again by its hash.
        try:
            taken: Any = await self._redis.eval(_HANDOFF_SCRIPT, len(keys), *keys, *args)
        except RedisError as error:
            taken = [error] * len(batch)
        for call, result in zip(batch, taken, strict=True):
            if call.done.done():  # its request was cancelled (the client went away)
                continue
            if isinstance(result, RedisError):
                call.done.set_exception(result)
            else:
                call.done.set_result(result)
