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
        self._replays = f"{prefix}dead:replay"  # ids whose replay was asked for

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
        """Remove and return one dead letter (to replay it); None if it is gone, also when
        another caller took it at the same moment (one transaction: one taker)."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._records, letter_id)
            pipe.hdel(self._records, letter_id)
            pipe.zrem(self._index, letter_id)
            raw, removed, _ = pipe.execute()
        return DeadLetter(**json.loads(raw)) if removed else None

    def request_replay(self, letter_id: str) -> bool:
        """Ask the workers to replay a letter (only they can run its job); False if there
        is no such letter. A worker's refresher takes the request within seconds."""
        if not self.redis.hexists(self._records, letter_id):
            return False
        self.redis.sadd(self._replays, letter_id)
        return True

    def replays_requested(self) -> tuple[str, ...]:
        """The ids whose replay was asked for and is not done yet."""
        return tuple(sorted(m.decode() for m in self.redis.smembers(self._replays)))  # type: ignore[union-attr]

    def replay_requested_done(self, letter_id: str) -> None:
        self.redis.srem(self._replays, letter_id)

    def count(self) -> int:
        return int(self.redis.zcard(self._index))
