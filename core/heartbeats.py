"""Heartbeat state in Redis: beats, deadlines, misses, pauses (docs/heartbeats.md).

Shared by the gateway (pings, the API) and the workers (beats fed by alerts, the
deadline check), like `core.silences`. Each heartbeat is a hash
`<prefix>heartbeat:<name>` (`last_beat`, `missed_since`, `paused`, `paused_by`) and, while
it is armed and not paused, a member of the sorted set `<prefix>heartbeats:due` scored
by its deadline. Every change is one Lua script, so any number of gateways and workers
can beat, check and pause at once.

A miss is not an incident written here: the script that claims the deadline appends a
firing alert to the heartbeat severity's intake stream, the same hand-off the webhooks
use, and the next beat appends its resolve. Dedupe, escalation, silences, inhibition and
the timeline then treat it like any other alert, and claiming the deadline and writing
the alert are one atomic step: a worker dying in a check loses nothing, and two workers
checking at once write one alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import redis

from core.handoff import HandoffEntry, stream_key
from core.models import Alert, Level, Severity, Status
from core.rules.durations import format_duration
from core.rules.model import Heartbeat, Policy

State = Literal["waiting", "healthy", "missed", "paused"]
Outcome = Literal["armed", "beat", "restored", "stale", "unknown"]
LEVELS: dict[Severity, Level] = {
    "SEV1": "critical",
    "SEV2": "error",
    "SEV3": "warning",
    "SEV4": "info",
}
TAKE = 100  # deadlines looked at per check round
# With no check for this long (Redis or every worker down), the deadlines are re-armed
# before the next check: what was missed meanwhile is alertgw's own outage, and the
# senders get a full period and grace to come back before anyone is paged.
OUTAGE = timedelta(seconds=60)

# KEYS: state hash, due set, intake stream (for the resolve), stream to ack ('' none).
# ARGV: name, beat time, deadline, resolve entry, consumer group, entry id.
_BEAT = """
if KEYS[4] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[5], ARGV[6])
  redis.call('XDEL', KEYS[4], ARGV[6])
end
local last = redis.call('HGET', KEYS[1], 'last_beat')
if last and tonumber(last) > tonumber(ARGV[2]) then return 'stale' end
redis.call('HSET', KEYS[1], 'last_beat', ARGV[2])
local outcome = last and 'beat' or 'armed'
if redis.call('HEXISTS', KEYS[1], 'missed_since') == 1 then
  redis.call('HDEL', KEYS[1], 'missed_since')
  redis.call('XADD', KEYS[3], '*', 'e', ARGV[4])
  outcome = 'restored'
end
if redis.call('HEXISTS', KEYS[1], 'paused') == 0 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return outcome
"""

# KEYS: state hash, due set, intake stream. ARGV: name, the deadline it was read with,
# now, when to say it again, the firing entry. 1 missed now, 2 still missed, 0 nothing
# (a beat or a pause came first, or another worker took it).
_EXPIRE = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('HEXISTS', KEYS[1], 'paused') == 1 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local outcome = 2
if redis.call('HEXISTS', KEYS[1], 'missed_since') == 0 then
  redis.call('HSET', KEYS[1], 'missed_since', ARGV[2])
  outcome = 1
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'e', ARGV[5])
return outcome
"""

# KEYS: state hash, due set. ARGV: name, now, by. 1 paused now, 0 already paused.
_PAUSE = """
if redis.call('HEXISTS', KEYS[1], 'paused') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'paused', ARGV[2], 'paused_by', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: state hash, due set. ARGV: name, deadline. 1 resumed, 0 was not paused.
_RESUME = """
if redis.call('HEXISTS', KEYS[1], 'paused') == 0 then return 0 end
redis.call('HDEL', KEYS[1], 'paused', 'paused_by')
if redis.call('HEXISTS', KEYS[1], 'last_beat') == 1 then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return 1
"""


@dataclass(frozen=True)
class HeartbeatStatus:
    """What `GET /api/v1/heartbeats` shows of one heartbeat."""

    name: str
    state: State
    severity: Severity
    period: timedelta
    grace: timedelta
    last_beat: datetime | None
    next_deadline: datetime | None
    missed_since: datetime | None
    paused_at: datetime | None
    paused_by: str | None


@dataclass(frozen=True)
class Missed:
    """A deadline one check claimed: `first` is False when it says a miss again."""

    name: str
    first: bool


class HeartbeatStore:
    """The heartbeats under one key prefix. Times are passed in, never read here."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self.due_key = f"{prefix}heartbeats:due"
        self.checked_key = f"{prefix}heartbeats:checked"
        self._beat = client.register_script(_BEAT)
        self._expire = client.register_script(_EXPIRE)
        self._pause = client.register_script(_PAUSE)
        self._resume = client.register_script(_RESUME)

    def key_of(self, name: str) -> str:
        return f"{self.prefix}heartbeat:{name}"

    def beat(
        self, heartbeat: Heartbeat, at: datetime, ack: tuple[str, str, str] | None = None
    ) -> Outcome:
        """Record a beat at `at`: arms the heartbeat, moves its deadline, resolves a miss.

        `ack` is (stream, group, entry id) of the hand-off entry that carried the beat,
        acknowledged in the same step. A beat older than the last one changes nothing.
        """
        stream, group, entry_id = ack or ("", "", "")
        restore = restore_entry(heartbeat, at).model_dump_json()
        keys = [self.key_of(heartbeat.name), self.due_key, self._stream(heartbeat), stream]
        deadline = (at + heartbeat.allowance).timestamp()
        args = [heartbeat.name, repr(at.timestamp()), repr(deadline), restore, group, entry_id]
        outcome: Any = self._beat(keys=keys, args=args)
        return _text(outcome)  # type: ignore[return-value]

    def expire_due(self, policy: Policy, now: datetime) -> list[Missed]:
        """Claim every deadline passed by `now` and write the alert of each miss.

        A heartbeat still missed is said again every half dedupe window, so its incident
        is never forgotten while the heartbeat stays quiet.
        """
        self._rearm_after_outage(policy, now)
        missed: list[Missed] = []
        while True:
            due: list[tuple[bytes, float]] = self.redis.zrangebyscore(  # type: ignore[assignment]
                self.due_key, "-inf", now.timestamp(), start=0, num=TAKE, withscores=True
            )
            for member, score in due:
                name = _text(member)
                heartbeat = policy.heartbeats.get(name)
                if heartbeat is None:  # removed from the rules: nothing to watch
                    self.redis.zrem(self.due_key, name)
                    continue
                if found := self._expire_one(policy, heartbeat, score, now):
                    missed.append(found)
            if len(due) < TAKE:
                return missed

    def _expire_one(
        self, policy: Policy, heartbeat: Heartbeat, score: float, now: datetime
    ) -> Missed | None:
        last = self.redis.hget(self.key_of(heartbeat.name), "last_beat")
        last_beat = _moment(last) if last is not None else now
        entry = miss_entry(heartbeat, last_beat, now).model_dump_json()
        again = now + max(policy.dedupe_window / 2, heartbeat.allowance)
        keys = [self.key_of(heartbeat.name), self.due_key, self._stream(heartbeat)]
        args = [heartbeat.name, repr(score), repr(now.timestamp()), repr(again.timestamp()), entry]
        outcome = int(self._expire(keys=keys, args=args))
        return Missed(heartbeat.name, outcome == 1) if outcome else None

    def _rearm_after_outage(self, policy: Policy, now: datetime) -> None:
        previous = self.redis.set(self.checked_key, repr(now.timestamp()), get=True)
        if previous is None or now - _moment(previous) < OUTAGE:
            return
        for heartbeat in policy.heartbeats.values():
            deadline = (now + heartbeat.allowance).timestamp()
            # only deadlines that are earlier (GT), only heartbeats that are armed (XX)
            self.redis.zadd(self.due_key, {heartbeat.name: deadline}, xx=True, gt=True)

    def pause(self, heartbeat: Heartbeat, now: datetime, by: str) -> bool:
        """Stop checking its deadline (beats are still recorded); False if already paused."""
        keys = [self.key_of(heartbeat.name), self.due_key]
        return bool(self._pause(keys=keys, args=[heartbeat.name, repr(now.timestamp()), by]))

    def resume(self, heartbeat: Heartbeat, now: datetime) -> bool:
        """Check it again, with a full period and grace from now; False if not paused."""
        keys = [self.key_of(heartbeat.name), self.due_key]
        deadline = (now + heartbeat.allowance).timestamp()
        return bool(self._resume(keys=keys, args=[heartbeat.name, repr(deadline)]))

    def statuses(self, policy: Policy) -> list[HeartbeatStatus]:
        """Every heartbeat of the rules, by name, with its state."""
        names = sorted(policy.heartbeats)
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.key_of(name))
                pipe.zscore(self.due_key, name)
            replies = pipe.execute()
        return [
            _status(policy.heartbeats[name], replies[2 * i], replies[2 * i + 1])
            for i, name in enumerate(names)
        ]

    def _stream(self, heartbeat: Heartbeat) -> str:
        return stream_key(self.prefix, heartbeat.severity)


def _status(heartbeat: Heartbeat, fields: dict[bytes, bytes], due: float | None) -> HeartbeatStatus:
    values = {_text(k): _text(v) for k, v in fields.items()}
    state: State = "waiting"
    if "paused" in values:
        state = "paused"
    elif "missed_since" in values:
        state = "missed"
    elif "last_beat" in values:
        state = "healthy"

    def moment(name: str) -> datetime | None:
        return _moment(values[name]) if name in values else None

    return HeartbeatStatus(
        name=heartbeat.name,
        state=state,
        severity=heartbeat.severity,
        period=heartbeat.period,
        grace=heartbeat.grace,
        last_beat=moment("last_beat"),
        next_deadline=_moment(due) if due is not None and state == "healthy" else None,
        missed_since=moment("missed_since"),
        paused_at=moment("paused"),
        paused_by=values.get("paused_by"),
    )


def miss_entry(heartbeat: Heartbeat, last_beat: datetime, now: datetime) -> HandoffEntry:
    """The firing alert of a missed heartbeat, as the hand-off carries it."""
    shown = "%H:%M" if last_beat.date() == now.date() else "%Y-%m-%d %H:%M"
    since = f"{last_beat:{shown}} UTC"
    title = (
        f"Heartbeat {heartbeat.name} missed: no beat since {since} "
        f"(period {format_duration(heartbeat.period)}, grace {format_duration(heartbeat.grace)})"
    )
    return _entry(heartbeat, "firing", title, now)


def restore_entry(heartbeat: Heartbeat, now: datetime) -> HandoffEntry:
    """The resolve a beat sends for a missed heartbeat: same fingerprint, same key."""
    return _entry(heartbeat, "resolved", f"Heartbeat {heartbeat.name} is beating again", now)


def _entry(heartbeat: Heartbeat, status: Status, title: str, now: datetime) -> HandoffEntry:
    labels = {**heartbeat.labels, "alertname": "HeartbeatMissed", "heartbeat": heartbeat.name}
    alert = Alert(
        source="heartbeat",
        fingerprint=heartbeat.rule,
        status=status,
        title=title,
        service=heartbeat.labels.get("service"),
        environment=heartbeat.labels.get("environment"),
        level=LEVELS[heartbeat.severity],
        labels=labels,
        starts_at=now,
        ends_at=now if status == "resolved" else None,
        received_at=now,
    )
    return HandoffEntry(alert=alert, classification=heartbeat.beat(), siblings=(heartbeat.rule,))


def _moment(value: bytes | str | float) -> datetime:
    seconds = value if isinstance(value, float) else float(_text(value))
    return datetime.fromtimestamp(seconds, UTC)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
