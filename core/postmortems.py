"""Postmortems: which resolved incidents owe one, when it is due, who marked it done.

Shared by the workers (a postmortem begins when a SEV1/SEV2 resolves; deadline reminders)
and the gateway (the draft and "mark done" in the API), so it lives beside the other
pieces both sides use. Keys (`inc` is a stream id, without a colon, so none is ambiguous):

  <p>pm:<inc>:meta:<key>      hash: key, inc, severity, resolved_at, due_at, done_at,
                              done_by, url, reminder (the last deadline reminder claimed)
  <p>pm:<inc>:record:<key>    hash: the incident record when its postmortem began
  <p>pm:<inc>:timeline:<key>  list: its timeline then
  <p>pms:<key>                zset: incarnations of the key that owe(d) one, by resolve time
  <p>postmortems              zset: the pending ones, "<severity>:<inc>:<key>" by due time

A postmortem begins in one atomic step that also keeps the incident's record, timeline
and notified targets (not its alerts) until the postmortem is done: the deadline
reminders go to its Slack thread, days after the dedupe window would have forgotten it.
Marking it done gives all of them the usual window again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import redis

from core.incidents.record import (
    Incident,
    TimelineEntry,
    decoded,
    from_timestamp,
    incident_from_hash,
    since_opened,
    timeline_from,
)
from core.incidents.store import IncidentStore
from core.models import Severity

# KEYS: record, timeline, notified, meta, record copy, timeline copy, pms, pending, incidents
# ARGV: inc, due (seconds after resolve). 1 begun, 2 begun already, 0 not this
# incarnation or not resolved.
_BEGIN = """
local r = redis.call('HMGET', KEYS[1], 'status', 'inc', 'severity', 'resolved_at', 'key')
if r[1] ~= 'resolved' or r[2] ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[4]) == 1 then return 2 end
redis.call('HSET', KEYS[5], unpack(redis.call('HGETALL', KEYS[1])))
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
if #entries > 0 then redis.call('RPUSH', KEYS[6], unpack(entries)) end
local due = tonumber(r[4]) + tonumber(ARGV[2])
redis.call('HSET', KEYS[4], 'key', r[5], 'inc', r[2], 'severity', r[3],
  'resolved_at', r[4], 'due_at', due, 'done_at', '', 'done_by', '', 'url', '', 'reminder', 0)
redis.call('ZADD', KEYS[7], r[4], r[2])
redis.call('PERSIST', KEYS[7])
redis.call('ZADD', KEYS[8], due, r[3] .. ':' .. r[2] .. ':' .. r[5])
for i = 1, 3 do redis.call('PERSIST', KEYS[i]) end
redis.call('ZADD', KEYS[9], 'XX', '+inf', r[5])
return 1
"""

# KEYS: meta, record copy, timeline copy, pms, pending, record, timeline, notified,
# incidents, reminders. ARGV: url, by, now, window, channel member. 1 marked done (again:
# the link is replaced), 0 unknown. The incident's own keys get the window back unless a
# later incarnation of the key lives there now (its expiry is its own); a pending archive
# check of its Slack channel becomes due now (workers.escalation.incident_channels), and its next
# deadline reminder leaves the set (workers.escalation.postmortem_deadlines names them).
_DONE = """
local r = redis.call('HMGET', KEYS[1], 'key', 'inc', 'severity')
if not r[1] then return 0 end
local now, window = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'done_at', now, 'done_by', ARGV[2], 'url', ARGV[1])
redis.call('ZREM', KEYS[5], r[3] .. ':' .. r[2] .. ':' .. r[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], window) end
redis.call('EXPIRE', KEYS[4], window)
if redis.call('HGET', KEYS[6], 'inc') == r[2] then
  for i = 6, 8 do redis.call('EXPIRE', KEYS[i], window) end
  redis.call('ZADD', KEYS[9], 'XX', now + window, r[1])
end
redis.call('ZADD', KEYS[10], 'XX', now, ARGV[5])
-- the deadline reminder queued next (a first one may have skipped two past ones)
local seq = tonumber(redis.call('HGET', KEYS[1], 'reminder')) or 0
for next = seq + 1, seq + 3 do
  redis.call('ZREM', KEYS[10], 'pm:' .. next .. ':' .. r[2] .. ':' .. r[1])
end
return 1
"""

# KEYS: meta. ARGV: seq. Claims deadline reminder `seq` while the postmortem is pending:
# 1 fresh, 2 a re-run of the current one, 0 stale (done, gone, or past it).
_CLAIM_REMINDER = """
local r = redis.call('HMGET', KEYS[1], 'done_at', 'reminder')
if not r[2] or r[1] ~= '' then return 0 end
local seq, current = tonumber(ARGV[1]), tonumber(r[2])
if current == seq then return 2 end
if current > seq then return 0 end
redis.call('HSET', KEYS[1], 'reminder', seq)
return 1
"""


@dataclass(frozen=True)
class Postmortem:
    """The postmortem owed by incarnation `inc` of incident `key`."""

    key: str
    inc: str
    severity: Severity
    resolved_at: datetime
    due_at: datetime
    done_at: datetime | None
    done_by: str
    url: str
    reminder: int

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def overdue(self, now: datetime) -> bool:
        return not self.done and now >= self.due_at

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the API and the CLI."""
        return {
            "key": self.key,
            "inc": self.inc,
            "severity": self.severity,
            "resolved_at": self.resolved_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "done": self.done,
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "done_by": self.done_by or None,
            "url": self.url or None,
        }


class PostmortemStore:
    """Postmortems under one key prefix, beside the incident store they follow."""

    def __init__(self, incidents: IncidentStore) -> None:
        self.incidents = incidents
        self.redis: redis.Redis = incidents.redis
        self.prefix = incidents.prefix
        self._begin = self.redis.register_script(_BEGIN)
        self._done = self.redis.register_script(_DONE)
        self._claim = self.redis.register_script(_CLAIM_REMINDER)

    def key_of(self, inc: str, part: str, key: str) -> str:
        return f"{self.prefix}pm:{inc}:{part}:{key}"

    def index_of(self, key: str) -> str:
        return f"{self.prefix}pms:{key}"

    @property
    def pending_key(self) -> str:
        return f"{self.prefix}postmortems"

    def begin(self, incident: Incident, due: timedelta) -> bool:
        """Start the postmortem of a resolved incident; False when it had begun already
        (a re-run) or the incident is no longer this resolved incarnation."""
        key, inc = incident.key, incident.inc
        keys = [*self._incident_keys(key), *self._own_keys(inc, key), self.pending_key]
        keys.append(self.incidents.index_key)
        return int(self._begin(keys=keys, args=[inc, due.total_seconds()])) == 1

    def mark_done(self, key: str, inc: str, url: str, by: str, now: datetime) -> bool:
        """Mark it done with the written document's link; False when there is none."""
        keys = [*self._own_keys(inc, key), self.pending_key, *self._incident_keys(key)]
        keys += [self.incidents.index_key, self.incidents.reminders_key]
        window = int(self.incidents.window.total_seconds())
        args: list[str | float] = [url, by, now.timestamp(), window, channel_member(inc, key)]
        return bool(self._done(keys=keys, args=args))

    def claim_reminder(self, key: str, inc: str, seq: int) -> int:
        """Take deadline reminder `seq`: 1 fresh, 2 a re-run, 0 stale (done, past it)."""
        return int(self._claim(keys=[self.key_of(inc, "meta", key)], args=[seq]))

    def get(self, key: str, inc: str | None = None) -> Postmortem | None:
        """The postmortem of incarnation `inc`, or of the key's latest one that owes one."""
        if inc is None:
            latest = self.redis.zrevrange(self.index_of(key), 0, 0)
            if not latest:
                return None
            inc = decoded(latest[0])
        raw = self.redis.hgetall(self.key_of(inc, "meta", key))
        return _postmortem(raw) if raw else None

    def record(self, postmortem: Postmortem) -> tuple[Incident, list[TimelineEntry]]:
        """The incident and its timeline for the draft: the live record while it is still
        this incarnation (it has the latest lines), else the copy taken at resolve."""
        key, inc = postmortem.key, postmortem.inc
        live = self.incidents.get(key)
        if live is not None and live.inc == inc:
            incident, timeline = live, self.incidents.timeline(key)
        else:
            incident = incident_from_hash(self.redis.hgetall(self.key_of(inc, "record", key)))
            timeline = timeline_from(self.redis.lrange(self.key_of(inc, "timeline", key), 0, -1))
        return incident, since_opened(timeline, incident.opened_at)

    def pending(self) -> list[tuple[Severity, float]]:
        """(severity, due as a timestamp) of every postmortem not yet done."""
        rows = cast(
            "list[tuple[bytes, float]]", self.redis.zrange(self.pending_key, 0, -1, withscores=True)
        )
        return [(_severity_of(decoded(member)), float(score)) for member, score in rows]

    def _incident_keys(self, key: str) -> list[str]:
        store = self.incidents
        return [store.key_of(key), store.key_of(key, "timeline"), store.key_of(key, "notified")]

    def _own_keys(self, inc: str, key: str) -> list[str]:
        parts = ("meta", "record", "timeline")
        return [*(self.key_of(inc, part, key) for part in parts), self.index_of(key)]


def channel_member(inc: str, key: str) -> str:
    """The reminder-set member of an incident channel's archive check."""
    return f"ch:{inc}:{key}"


def _severity_of(member: str) -> Severity:
    severity = member.split(":", 1)[0]
    assert severity in ("SEV1", "SEV2", "SEV3", "SEV4"), member
    return severity  # type: ignore[return-value]


def _postmortem(raw: Mapping[Any, Any]) -> Postmortem:
    r = {decoded(k): decoded(v) for k, v in raw.items()}
    return Postmortem(
        key=r["key"],
        inc=r["inc"],
        severity=r["severity"],  # type: ignore[arg-type]
        resolved_at=from_timestamp(r["resolved_at"]),
        due_at=from_timestamp(r["due_at"]),
        done_at=from_timestamp(r["done_at"]) if r.get("done_at") else None,
        done_by=r.get("done_by", ""),
        url=r.get("url", ""),
        reminder=int(r.get("reminder") or 0),
    )
