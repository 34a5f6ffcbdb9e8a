"""Silences: label matchers and a time range during which firing alerts notify nobody.

Alertmanager's model, kept in one Redis hash under the deployment's prefix
(`<prefix>silences`: id -> JSON). A silence whose start is in the future is a
maintenance window. Silenced firing alerts are still recorded (incident, timeline,
metrics); only their notifications are held back, and resolves always go out.

The store is synchronous and takes `now` as an argument, so a worker can call
`active(labels, now)` for each firing alert, and tests move time instead of sleeping.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

import redis
from pydantic import AwareDatetime, BaseModel, ConfigDict

from core.rules import MatcherError, parse_matchers
from core.rules.model import Matcher

State = Literal["pending", "active", "expired"]
# Expired silences stay listed this long (Alertmanager keeps them 120 h), then go.
RETENTION = timedelta(days=5)
# Longest silence accepted: a forgotten "mute everything" should not outlive a quarter.
MAX_DURATION = timedelta(days=90)


class SilenceError(ValueError):
    """A silence that cannot be created as asked (bad matchers or times)."""


class Silence(BaseModel):
    """One silence as stored and as the API shows it."""

    model_config = ConfigDict(frozen=True)

    id: str
    matchers: tuple[str, ...]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    comment: str
    created_by: str
    created_at: AwareDatetime
    updated_at: AwareDatetime

    def state(self, now: datetime) -> State:
        """pending (a maintenance window not yet started), active, or expired."""
        if now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "pending"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher matches the label set (Alertmanager semantics)."""
        return all(m.matches(labels) for m in _compiled(self.matchers))


@lru_cache(maxsize=1024)
def _compiled(matchers: tuple[str, ...]) -> tuple[Matcher, ...]:
    # stored matchers were validated on create; compiling them once per process keeps
    # `active` cheap enough to run for every firing alert
    return parse_matchers(matchers)


def check_matchers(matchers: Sequence[str]) -> tuple[str, ...]:
    """Validate matchers for a silence; raise SilenceError naming the bad one.

    As in Alertmanager, at least one matcher must not match the empty label set, so a
    silence can never mute every alert by accident.
    """
    if not matchers:
        raise SilenceError("matchers: a silence needs at least one matcher")
    try:
        compiled = parse_matchers(matchers)
    except MatcherError as error:
        raise SilenceError(f"matchers: {error}") from None
    if all(m.matches({}) for m in compiled):
        raise SilenceError(
            "matchers: at least one matcher must not match an empty label set "
            '(e.g. service="checkout"); this silence would mute every alert'
        )
    return tuple(str(m) for m in compiled)


class SilenceStore:
    """Silences under one key prefix. Every method that depends on time takes `now`."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}silences"

    def create(
        self,
        matchers: Sequence[str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str,
        created_by: str,
        now: datetime,
    ) -> Silence:
        """Store a new silence; raise SilenceError for bad matchers or times."""
        normalized = check_matchers(matchers)
        if ends_at <= starts_at:
            raise SilenceError("ends_at: must be after starts_at")
        if ends_at <= now:
            raise SilenceError("ends_at: must be in the future")
        if ends_at - max(starts_at, now) > MAX_DURATION:
            raise SilenceError(f"ends_at: a silence may last at most {MAX_DURATION.days} days")
        silence = Silence(
            id=str(uuid.uuid4()),
            matchers=normalized,
            starts_at=max(starts_at, now),  # a start in the past means now
            ends_at=ends_at,
            comment=comment,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        self.redis.hset(self.key, silence.id, silence.model_dump_json())
        self._prune(now)
        return silence

    def get(self, silence_id: str) -> Silence | None:
        raw = self.redis.hget(self.key, silence_id)
        return Silence.model_validate_json(raw) if raw else None

    def list(self, now: datetime, state: State | None = None) -> builtins.list[Silence]:
        """Silences not yet pruned, soonest-ending first, optionally of one state."""
        found = [Silence.model_validate_json(raw) for raw in self.redis.hvals(self.key)]
        found = [s for s in found if state is None or s.state(now) == state]
        return sorted(found, key=lambda s: (s.ends_at, s.id))

    def expire(self, silence_id: str, now: datetime) -> Silence | None:
        """End a silence now (a pending one never starts). None when unknown.

        Expiring an expired silence changes nothing: it is safe to repeat.
        """
        silence = self.get(silence_id)
        if silence is None or silence.state(now) == "expired":
            return silence
        ended = silence.model_copy(
            update={"ends_at": now, "starts_at": min(silence.starts_at, now), "updated_at": now}
        )
        self.redis.hset(self.key, silence_id, ended.model_dump_json())
        return ended

    def active(self, labels: Mapping[str, str], now: datetime) -> Silence | None:
        """The active silence that mutes an alert with these labels, if any.

        For the worker, before notifying a firing alert: pass the alert's labels (add
        `severity` to let silences match on the classified level). When several match,
        the one ending last is returned, as it is the one that decides when notifications
        resume. Resolves must be sent regardless.
        """
        return muting_silence(self.list(now), labels, now)

    def _prune(self, now: datetime) -> None:
        old = [s.id for s in self.list(now) if s.ends_at < now - RETENTION]
        if old:
            self.redis.hdel(self.key, *old)


def muting_silence(
    silences: Iterable[Silence], labels: Mapping[str, str], now: datetime
) -> Silence | None:
    """Among `silences`, the active one that mutes `labels` and ends last (it decides
    when notifications resume), if any: `SilenceStore.active` over given silences."""
    matching = [s for s in silences if s.state(now) == "active" and s.matches(labels)]
    return max(matching, key=lambda s: s.ends_at, default=None)
