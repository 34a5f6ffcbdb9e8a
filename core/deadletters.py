"""Dead letters: delivery jobs that ran out of retries or failed for good.

Each is kept in Redis (a hash of JSON records, indexed by time) with what it was trying
to do and why it failed, counted in alertgw_dead_letters, reported to Sentry when
SENTRY_DSN is set, and can be listed and replayed with `alertgw dead-letters`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import sentry_sdk


@dataclass(frozen=True)
class DeadLetter:
    """One failed job: `func` is a `workers.jobs` function name, `args` its arguments."""

    id: str
    incident: str
    func: str
    args: list[Any]
    error: str
    attempts: int
    failed_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DeadLetters:
    """The dead-letter registry under one key prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self._records = f"{prefix}dead"
        self._index = f"{prefix}dead:index"

    def add(
        self,
        incident: str,
        func: str,
        args: list[Any],
        error: str,
        attempts: int,
        now: datetime,
    ) -> DeadLetter:
        """Keep a failed job; `error` must already be free of secrets."""
        letter = DeadLetter(
            id=uuid.uuid4().hex[:12],
            incident=incident,
            func=func,
            args=args,
            error=error,
            attempts=attempts,
            failed_at=now.astimezone(UTC).isoformat(),
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._records, letter.id, json.dumps(letter.as_dict()))
            pipe.zadd(self._index, {letter.id: now.timestamp()})
            pipe.execute()
        sentry_sdk.capture_message(
            f"alertgw delivery dead-lettered for incident {incident}: {error}", level="error"
        )
        return letter

    def list(self) -> list[DeadLetter]:
        """All dead letters, oldest first."""
        ids: list[bytes] = list(self.redis.zrange(self._index, 0, -1))  # type: ignore[arg-type]
        if not ids:
            return []
        records = self.redis.hmget(self._records, ids)
        return [DeadLetter(**json.loads(r)) for r in records if r is not None]

    def take(self, letter_id: str) -> DeadLetter | None:
        """Remove and return one dead letter (to replay it)."""
        raw = self.redis.hget(self._records, letter_id)
        if raw is None:
            return None
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._records, letter_id)
            pipe.zrem(self._index, letter_id)
            pipe.execute()
        return DeadLetter(**json.loads(raw))

    def count(self) -> int:
        return int(self.redis.zcard(self._index))
