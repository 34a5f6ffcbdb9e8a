"""Flap damping: an incident whose alerts keep changing stops paging until it settles.

A rule with `flap: {changes: N, within: D, quiet: Q}`: the intake records every change
of an alert between firing and resolved (a repeat of the same status is no change) in
Redis, per incident key, before the alert is applied. The first resolve that makes (or
comes after) N changes within D makes the incident *flapping*: a resolve, so that the
incident is open, has paged, and its Slack thread hears why it goes quiet. Then:

* resolves from the source are held (acknowledged, not applied): the incident stays open;
* no escalation step fires, so no page and no trigger goes out again (`holds`), also for
  an incarnation that a firing alert opened just as the flapping began;
* Slack hears once that it started (`flap_started`) and once that it stopped;
* Q after the last change (`settle_flap`, a job scheduled at each change) it stops: the
  incident resolves if every alert's last word was resolved, else escalation resumes
  where it stood (the next step when it is due, at once if that time has passed).

Recording a change and holding a resolve are one Lua step with the entry's
acknowledgement, so a worker dying in between replays it (a repeated status is no change).
"""

from __future__ import annotations

import logging
from typing import Any

from core.gauges import flapping_index_key as index_key
from core.handoff import HandoffEntry
from core.incidents.record import Incident
from core.rules.durations import format_duration
from core.rules.model import Flap, Policy
from workers.context import Context, current
from workers.delivery.jobs import deliver, rows_of
from workers.delivery.scheduling import digest, schedule
from workers.escalation import path as escalation

log = logging.getLogger(__name__)

# KEYS: state hash, changes set, flapping index, stream to ack.
# ARGV: fingerprint, status, now, within (s), changes, severity, group, entry id, ttl (s),
# incident key. Returns {flapping, started, held, changed}.
_RECORD = """
local now = tonumber(ARGV[3])
local field = 'status:' .. ARGV[1]
local prev = redis.call('HGET', KEYS[1], field)
redis.call('HSET', KEYS[1], field, ARGV[2])
local changed = prev ~= false and prev ~= ARGV[2]
if changed then
  redis.call('ZADD', KEYS[2], now, ARGV[3] .. ':' .. ARGV[1])
  redis.call('HSET', KEYS[1], 'last_change', ARGV[3])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[4])))
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('EXPIRE', KEYS[2], ARGV[9])
local flapping = redis.call('HEXISTS', KEYS[1], 'flapping') == 1
local started = 0
if not flapping and changed and ARGV[2] == 'resolved'
    and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], 'flapping', ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[10], ARGV[6])
  flapping = true
  started = 1
end
local held = 0
if flapping and ARGV[2] == 'resolved' then
  redis.call('XACK', KEYS[4], ARGV[7], ARGV[8])
  redis.call('XDEL', KEYS[4], ARGV[8])
  held = 1
end
return {flapping and 1 or 0, started, held, changed and 1 or 0}
"""

# KEYS: state hash, flapping index. ARGV: the last change it was scheduled for, key.
# Ends the flapping if no change came since; returns every alert's last status, or nil.
_SETTLE = """
if redis.call('HGET', KEYS[1], 'last_change') ~= ARGV[1] then return false end
if redis.call('HEXISTS', KEYS[1], 'flapping') == 0 then return false end
redis.call('HDEL', KEYS[1], 'flapping')
redis.call('HDEL', KEYS[2], ARGV[2])
local statuses = {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 7) == 'status:' then statuses[#statuses + 1] = fields[i + 1] end
end
return statuses
"""


def flap_of(policy: Policy, rule: str) -> Flap | None:
    """The flap damping of a rule (None: none, or not a rule of these rules)."""
    found = policy.rule_named(rule)
    return found.flap if found is not None else None


def state_key(ctx: Context, key: str) -> str:
    return f"{ctx.prefix}flap:{key}"


def record(ctx: Context, entry: HandoffEntry, ack: tuple[str, str, str]) -> bool:
    """Record the alert's change for its incident; True when its resolve is held (the
    entry is acknowledged and must not be applied)."""
    decided, alert = entry.classification, entry.alert
    flap = flap_of(ctx.policy, decided.rule)
    if flap is None:
        return False
    key, now = decided.incident_key, ctx.clock()
    stream, group, entry_id = ack
    ttl = int((flap.within + flap.quiet + ctx.policy.dedupe_window).total_seconds())
    keys = [state_key(ctx, key), f"{state_key(ctx, key)}:changes", index_key(ctx.prefix), stream]
    args: list[Any] = [alert.fingerprint, alert.status, repr(now.timestamp())]
    args += [flap.within.total_seconds(), flap.changes, decided.severity, group, entry_id]
    args += [ttl, key]
    flapping, started, held, changed = ctx.redis.register_script(_RECORD)(keys=keys, args=args)
    if started:
        text = (
            f"Flapping: {flap.changes} changes within {format_duration(flap.within)}. "
            f"Resolves are held and nothing pages again until "
            f"{format_duration(flap.quiet)} without a change."
        )
        schedule(ctx, None, flap_started, [key, text], f"flap-on-{digest(key, repr(now))}")
    if flapping and changed:
        at = now + flap.quiet
        args = [key, repr(now.timestamp())]
        schedule(ctx, at, settle_flap, args, f"flap-off-{digest(key, repr(now.timestamp()))}")
    return bool(held)


def holds(ctx: Context, incident: Incident) -> bool:
    """Whether escalation of this incident is held because it is flapping."""
    if flap_of(ctx.policy, incident.rule) is None:
        return False
    return bool(ctx.redis.hexists(state_key(ctx, incident.key), "flapping"))


def flap_started(key: str, text: str) -> None:
    """Tell the incident's timeline and Slack thread that it started flapping."""
    ctx = current()
    incident = ctx.store.get(key)
    if incident is None:
        return
    ctx.store.note(key, "flapping", text, ctx.clock())
    notified = ctx.store.notified(key)
    tag = f"{incident.inc}:flap:{digest(text)}"
    deliver(key, tag, rows_of(escalation.updates(ctx.policy, notified, "note", text)))


def settle_flap(key: str, last_change: str) -> None:
    """Q after a change: if none came since, the flapping stops and the incident follows
    its final state (resolved, or escalation resumes)."""
    from workers.escalation import steps  # steps asks this module whether a step is held

    ctx = current()
    script = ctx.redis.register_script(_SETTLE)
    statuses = script(keys=[state_key(ctx, key), index_key(ctx.prefix)], args=[last_change, key])
    if statuses is None:
        return  # a change came since (its own settle is scheduled), or already settled
    resolved = all(_text(s) == "resolved" for s in statuses)
    flap = flap_of(ctx.policy, _rule_of(ctx, key))
    quiet = format_duration(flap.quiet) if flap else "a while"
    final = "resolved" if resolved else "firing"
    text = f"Flapping stopped: no change for {quiet}; final state {final}"
    incident, now = ctx.store.get(key), ctx.clock()
    if incident is None or incident.status == "resolved":
        return
    ctx.store.note(key, "flapping_stopped", text, now)
    notified = ctx.store.notified(key)
    tag = f"{incident.inc}:flap-off:{last_change}"
    deliver(key, tag, rows_of(escalation.updates(ctx.policy, notified, "note", text)))
    log.info("incident stopped flapping, final state %s", final, extra={"incident": key})
    if resolved:
        ctx.store.resolve(key, "source", "settled after flapping", now)
    elif incident.status == "open":
        steps.resume(ctx, incident, incident.version)


def _rule_of(ctx: Context, key: str) -> str:
    incident = ctx.store.get(key)
    return incident.rule if incident is not None else ""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
