"""The durable hand-off from gateway to workers: one Redis round trip per request.

Each classified alert is appended to the Redis Stream of its severity
(`<prefix>intake:SEV1` ... `SEV4`); workers read them through a consumer group, SEV1
first. A Lua script makes the request's entries, and the optional "seen this delivery
id" marker, one atomic step: either all are written or none, and a redelivery that
was already taken writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict
from redis.exceptions import RedisError

from gateway.exceptions import HandoffUnavailable
from gateway.models import SEVERITIES, Alert, Severity
from gateway.rules.model import Classification

ENTRY_FIELD = "e"
# How long a delivery id is remembered: longer than any vendor retries a delivery
# (PagerDuty retries for up to 48 h).
DELIVERY_ID_TTL_SECONDS = 3 * 24 * 3600

_HANDOFF_SCRIPT = """
if KEYS[1] ~= '' and ARGV[1] ~= '' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
    return 0
  end
end
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], '*', 'e', ARGV[i])
end
return 1
"""


class HandoffEntry(BaseModel):
    """One classified alert as it travels from the gateway to the workers."""

    model_config = ConfigDict(frozen=True)

    alert: Alert
    classification: Classification


def stream_key(prefix: str, severity: Severity) -> str:
    """The intake stream of one severity."""
    return f"{prefix}intake:{severity}"


def stream_keys(prefix: str) -> list[str]:
    """All intake streams, most severe first: the order workers read them in."""
    return [stream_key(prefix, s) for s in SEVERITIES]


def delivery_key(prefix: str, source: str, delivery_id: str) -> str:
    return f"{prefix}delivery:{source}:{delivery_id}"


class Handoff:
    """Writes classified alerts to the intake streams."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_HANDOFF_SCRIPT)

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
        args = [str(DELIVERY_ID_TTL_SECONDS) if delivery else ""]
        args += [e.model_dump_json() for e in entries]
        try:
            written = await self._script(keys=keys, args=args)
        except RedisError as error:
            raise HandoffUnavailable(
                f"cannot reach Redis, retry later ({type(error).__name__})"
            ) from None
        return bool(written)


def decode_entry(fields: dict[bytes, bytes]) -> HandoffEntry:
    """Decode one stream entry written by `Handoff.put`."""
    return HandoffEntry.model_validate_json(fields[ENTRY_FIELD.encode()])
