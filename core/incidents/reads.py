"""Reading incidents back from Redis: the key layout of one prefix and the plain reads
(an incident, the list, the open ones, counts, alerts, the timeline). Every write is one
Lua script in the store (store.py), which builds on this.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import UTC, datetime

import redis

from core.incidents.record import (
    Incident,
    IncidentStatus,
    TimelineEntry,
    decoded,
    incident_from_hash,
    timeline_from,
)
from core.models import SEVERITIES, Severity


class IncidentReads:
    """The key layout of incidents under one prefix, and the plain reads of them (the
    writes, each one Lua script, are `IncidentStore`'s)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix

    # keys ---------------------------------------------------------------------------
    def key_of(self, key: str, part: str = "") -> str:
        return f"{self.prefix}inc:{key}{':' + part if part else ''}"

    @property
    def changes_key(self) -> str:
        return f"{self.prefix}changes"

    @property
    def index_key(self) -> str:
        return f"{self.prefix}incidents"

    def open_key(self, severity: Severity) -> str:
        return f"{self.prefix}open:{severity}"

    @property
    def reminders_key(self) -> str:
        """The status-update reminders due, by time (see workers.escalation.reminders)."""
        return f"{self.prefix}reminders"

    @property
    def autoresolve_key(self) -> str:
        """Live incidents with an `auto_resolve`, by when due (workers/incidents/autoresolve.py)."""
        return f"{self.prefix}autoresolve"

    def fingerprint_key(self, fingerprint: str) -> str:
        """The index of the live incidents holding an alert (see transitions)."""
        return f"{self.prefix}fp:{fingerprint}"

    # transitions --------------------------------------------------------------------
    # reads ----------------------------------------------------------------------------
    def get(self, key: str) -> Incident | None:
        """The incident, or None when unknown or expired (resolved longer than the dedupe
        window ago)."""
        raw = self.redis.hgetall(self.key_of(key))
        return incident_from_hash(raw) if raw else None

    def list(
        self,
        status: IncidentStatus | None = None,
        severity: Severity | None = None,
        now: datetime | None = None,
    ) -> builtins.list[Incident]:
        """Live incidents and those resolved within the window, optionally filtered; most
        severe first, then newest."""
        moment = (now or datetime.now(UTC)).timestamp()
        keys = [decoded(k) for k in self.redis.zrangebyscore(self.index_key, moment, "+inf")]
        found = [i for i in self._get_many(keys) if i is not None]
        found = [i for i in found if status is None or i.status == status]
        found = [i for i in found if severity is None or i.severity == severity]
        found.sort(key=lambda i: i.opened_at, reverse=True)
        return sorted(found, key=lambda i: SEVERITIES.index(i.severity))

    def open_incidents(self, now: datetime) -> builtins.list[Incident]:
        """Open and acknowledged incidents (for inhibition), any severity."""
        keys: builtins.list[str] = []
        for severity in SEVERITIES:
            members = self.redis.zrangebyscore(self.open_key(severity), now.timestamp(), "+inf")
            keys += [decoded(k) for k in members]
        return [i for i in self._get_many(keys) if i is not None and i.status != "resolved"]

    def count_open(self, now: datetime) -> dict[Severity, int]:
        """Open (or acknowledged) incidents by severity; drops forgotten ones first."""
        with self.redis.pipeline(transaction=False) as pipe:
            for severity in SEVERITIES:
                pipe.zremrangebyscore(self.open_key(severity), "-inf", now.timestamp())
                pipe.zcard(self.open_key(severity))
            counts = pipe.execute()[1::2]
        return dict(zip(SEVERITIES, (int(c) for c in counts), strict=True))

    def alerts(self, key: str) -> dict[str, str]:
        """The incident's alerts: fingerprint -> firing | resolved."""
        raw = self.redis.hgetall(self.key_of(key, "alerts"))
        return {decoded(fingerprint): decoded(status) for fingerprint, status in raw.items()}

    def timeline(self, key: str) -> builtins.list[TimelineEntry]:
        """The incident's history, oldest first."""
        return timeline_from(self.redis.lrange(self.key_of(key, "timeline"), 0, -1))

    def _get_many(self, keys: Iterable[str]) -> builtins.list[Incident | None]:
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self.key_of(key))
            return [incident_from_hash(raw) if raw else None for raw in pipe.execute()]
