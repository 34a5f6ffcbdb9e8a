"""Storm folding: when one target would get a flood of new-incident pages, it gets one.

With a `storm:` section in the rules (docs/rules.md#storm), every page that escalation
step 1 of a SEV2-SEV4 incident would send to a target is counted for that target. When
more than `threshold` come within `window`, the target is in a *storm*: that incident and
every later SEV2-SEV4 one are **folded** for that target instead of paging it. A *storm
incident* (`storm:<target>`, a real incident in the store, the API and the metrics)
pages the target once; a Slack target keeps its one root message, edited in place with
the counts (`refresh`, at most every REFRESH_EVERY). SEV1 incidents are never folded.

Each folded incident stays an incident of its own: its timeline says "folded into storm
...", it resolves normally, and nothing of its path fires while it is folded. Once no
more than `threshold` pages came within `window` for `cooldown` (`storm_check` jobs), the storm
ends: its incident resolves with a summary, and each folded incident still open
escalates on its own from there (step 1 to the target it was folded for, then its path).

Counting, folding and opening the storm incident are one Lua step per target, so any
number of workers agree on who starts a storm and who is folded; a re-run (a worker died
mid-step) finds its incident folded already and sends only what its first run may not
have (deliveries are idempotent, `workers.delivery`). Ending keeps the list of folded
incidents until each was released, so a worker dying while ending loses none.

Keys, per target: <p>storm:<target> (hash: the current storm), <p>storm:<target>:rate
(zset: pages counted within the window), and per storm <p>storm:<target>:<inc>:folded
(hash: incident key -> incarnation) and :services (hash: service -> folded count);
<p>storms (hash: target -> current storm, for the gauge).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from core import metrics
from core.gauges import storms_index_key
from core.incidents.record import Incident, decoded
from core.incidents.store import TIMELINE_CAP
from core.rules.durations import format_duration
from core.rules.model import Storm
from workers.context import Context, current
from workers.delivery.jobs import deliver
from workers.delivery.scheduling import digest, schedule

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(seconds=10)  # Slack edits of a storm's root message, at most
CHECK_GRID = 10  # seconds: storm-end checks run on this grid (fewer distinct jobs)
TOP_SERVICES = 3

# KEYS: state, rate, storms index, storm record, its alerts, timeline, notified,
#   incidents index, open index of the severity.
# ARGV: target, incident key, inc, now, window (s), threshold, severity, prefix, cap,
#   since (text), service, how many services the summary names.
# Returns {outcome, storm inc, fresh}: outcome `page` (no storm: send as usual),
# `started` (this incident started the storm: page the storm incident), `folded`;
# fresh 1 when this call folded it (0: a re-run found it folded already).
_FOLD = """
local target, key, inc = ARGV[1], ARGV[2], ARGV[3]
local now, window, threshold = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local severity, prefix, cap = ARGV[7], ARGV[8], tonumber(ARGV[9])
local since, service = ARGV[10], ARGV[11]
local state, rate = KEYS[1], KEYS[2]
local member = inc .. ':' .. key
local function folded_key(storm_inc)
  return prefix .. 'storm:' .. target .. ':' .. storm_inc .. ':folded'
end
if redis.call('HGET', state, 'active') == '1' then
  -- folded already (a re-run, or unfolded for another target's storm): counted once
  local current = redis.call('HGET', state, 'inc')
  if redis.call('HGET', folded_key(current), key) == inc then
    local again = 'folded'
    if redis.call('HGET', state, 'first') == member then again = 'started' end
    return {again, current, 0}
  end
end
redis.call('ZADD', rate, 'NX', now, member)
redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - window)  -- within: less than window ago
redis.call('EXPIRE', rate, math.ceil(window) + 60)
local over = redis.call('ZCARD', rate) > threshold
local active = redis.call('HGET', state, 'active') == '1'
if not active and not over then return {'page', '', 0} end
if over then redis.call('HSET', state, 'last_over', now) end
local storm_inc
if active then
  storm_inc = redis.call('HGET', state, 'inc')
else
  storm_inc = 'storm-' .. ARGV[4]
  local skey = 'storm:' .. target
  redis.call('HSET', state, 'active', '1', 'inc', storm_inc, 'key', skey, 'since', since,
    'started_at', now, 'first', member, 'last_over', now, 'severity', severity)
  redis.call('HSET', KEYS[3], target, storm_inc)
  redis.call('DEL', KEYS[5], KEYS[7])
  local version = redis.call('HINCRBY', KEYS[4], 'version', 1)
  redis.call('HSET', KEYS[4], 'key', skey, 'inc', storm_inc, 'status', 'open',
    'severity', severity, 'rule', 'storm', 'escalation', '',
    'title', 'Alert storm: 1 incidents for ' .. target .. ' since ' .. since,
    'summary', '', 'service', '', 'environment', '', 'source', 'alertgw',
    'labels', cjson.encode({storm = target}), 'links', '[]', 'opened_at', now,
    'received_at', now, 'updated_at', now, 'lead', '', 'alert_count', 0, 'step', 0,
    'step_at', now, 'reminder', 0, 'muted', '', 'thread_channel', '', 'thread_ts', '',
    'resolved_at', '', 'resolved_by', '', 'auto_resolve', 0, 'last_alert_at', now)
  for _, k in ipairs({KEYS[4], KEYS[5], KEYS[6], KEYS[7]}) do redis.call('PERSIST', k) end
  local why = 'Alert storm for ' .. target .. ': more than ' .. threshold
    .. ' new incidents within ' .. window .. ' s'
  redis.call('RPUSH', KEYS[6], cjson.encode({at = now, kind = 'opened', text = why}))
  redis.call('LTRIM', KEYS[6], -cap, -1)
  redis.call('ZADD', KEYS[8], '+inf', skey)
  redis.call('ZADD', KEYS[9], '+inf', skey)
end
local folded = folded_key(storm_inc)
local services = prefix .. 'storm:' .. target .. ':' .. storm_inc .. ':services'
local outcome = 'folded'
if redis.call('HGET', state, 'first') == member then outcome = 'started' end
redis.call('HSET', folded, key, inc)
redis.call('HINCRBY', services, service, 1)
local count = redis.call('HINCRBY', KEYS[4], 'alert_count', 1)
local title = 'Alert storm: ' .. count .. ' incidents for ' .. target .. ' since '
redis.call('HSET', KEYS[4], 'updated_at', now, 'title', title .. redis.call('HGET', state, 'since'))
-- the summary names the services folded most (few: a burst comes from few services)
local counts, top = redis.call('HGETALL', services), {}
for i = 1, #counts, 2 do table.insert(top, {counts[i], tonumber(counts[i + 1])}) end
table.sort(top, function(x, y) return x[2] > y[2] or (x[2] == y[2] and x[1] < y[1]) end)
local named = {}
for i = 1, math.min(#top, tonumber(ARGV[12])) do
  table.insert(named, top[i][1] .. ' (' .. top[i][2] .. ')')
end
redis.call('HSET', KEYS[4], 'summary', 'top services: ' .. table.concat(named, ', '))
return {outcome, storm_inc, 1}
"""

# KEYS: state, storms index. ARGV: target, storm inc, now, cooldown (s).
# Returns {code, due}: 0 not over yet (look again at `due`), 1 over (this call or an
# earlier one that did not finish ending it), 2 no such storm left.
_END = """
local state = KEYS[1]
if redis.call('HGET', state, 'inc') ~= ARGV[2] then return {2, 0} end
if redis.call('HGET', state, 'active') == '1' then
  local due = tonumber(redis.call('HGET', state, 'last_over')) + tonumber(ARGV[4])
  if tonumber(ARGV[3]) < due then return {0, tostring(due)} end
  redis.call('HSET', state, 'active', 'ending')
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return {1, 0}
"""


@dataclass(frozen=True)
class Folding:
    """What storm folding decided for one step's targets."""

    folded: frozenset[str]  # targets not to page for this incident now
    started: tuple[tuple[str, str], ...]  # (target, storm inc) of storms this incident began


def fold(
    ctx: Context, incident: Incident, targets: Iterable[str], skip: str | None = None
) -> Folding:
    """Count the page step 1 of `incident` would send each target; fold it where a storm is.

    SEV1 is never folded or counted. `skip`: a target whose storm just released this
    incident (it pages that target now, uncounted)."""
    if incident.severity == "SEV1" or not ctx.policy.storms:
        return Folding(frozenset(), ())
    folded: set[str] = set()
    started: list[tuple[str, str]] = []
    now = ctx.clock()
    for target in targets:
        storm = ctx.policy.storms.get(target)
        if storm is None or target == skip:
            continue
        outcome, storm_inc, fresh = _fold_one(ctx, incident, target, storm, now)
        if outcome == "page":
            continue
        folded.add(target)
        if outcome == "started":
            started.append((target, storm_inc))
        if fresh:
            metrics.incidents_folded.labels(target, incident.severity).inc()
            text = f"folded into storm storm:{target}: {target} is not paged for it while the"
            ctx.store.note(incident.key, "folded", f"{text} storm lasts", now)
        _schedule_check(ctx, target, storm_inc, now + storm.cooldown)
        _schedule_refresh(ctx, target, storm_inc, now)
    for target, storm_inc in started:
        _page(ctx, target, storm_inc)
    return Folding(frozenset(folded), tuple(started))


def _fold_one(
    ctx: Context, incident: Incident, target: str, storm: Storm, now: datetime
) -> tuple[str, str, int]:
    storm_key = f"storm:{target}"
    record = ctx.store.key_of(storm_key)
    keys = [state_key(ctx.prefix, target), f"{state_key(ctx.prefix, target)}:rate"]
    keys += [index_key(ctx.prefix), record, f"{record}:alerts", f"{record}:timeline"]
    keys += [f"{record}:notified", ctx.store.index_key, ctx.store.open_key(incident.severity)]
    args: list[Any] = [target, incident.key, incident.inc, repr(now.timestamp())]
    args += [storm.window.total_seconds(), storm.threshold, incident.severity, ctx.prefix]
    args += [TIMELINE_CAP, f"{now.astimezone(UTC):%H:%M} UTC", incident.service or "-"]
    args += [TOP_SERVICES]
    outcome, storm_inc, fresh = ctx.redis.register_script(_FOLD)(keys=keys, args=args)
    return decoded(outcome), decoded(storm_inc), int(fresh)


def state_key(prefix: str, target: str) -> str:
    return f"{prefix}storm:{target}"


def index_key(prefix: str) -> str:
    """Targets in a storm now: target -> storm incarnation (`core.gauges` reads it)."""
    return storms_index_key(prefix)


def _part(prefix: str, target: str, storm_inc: str, name: str) -> str:
    return f"{prefix}storm:{target}:{storm_inc}:{name}"


def describe(ctx: Context, target: str, storm_inc: str) -> Incident | None:
    """The storm incident of `target` (its title and summary carry the counts), if it is
    still incarnation `storm_inc`."""
    incident = ctx.store.get(f"storm:{target}")
    return incident if incident is not None and incident.inc == storm_inc else None


def top_services(ctx: Context, target: str, storm_inc: str) -> str:
    """`checkout (120), payments (80), search (3)`: the services folded most."""
    raw = ctx.redis.hgetall(_part(ctx.prefix, target, storm_inc, "services"))
    counts = sorted(((-int(n), decoded(s)) for s, n in raw.items()))[:TOP_SERVICES]
    return ", ".join(f"{service} ({-n})" for n, service in counts) or "none"


def _page(ctx: Context, target: str, storm_inc: str) -> None:
    incident = describe(ctx, target, storm_inc)
    if incident is None:
        return
    text = f"{incident.title}; {incident.summary}"
    deliver(incident.key, f"{storm_inc}:page", [[target, "trigger", text]], incident=incident)


def _schedule_refresh(ctx: Context, target: str, storm_inc: str, now: datetime) -> None:
    spec = ctx.policy.targets.get(target)
    if spec is None or spec.slack is None:
        return  # a PagerDuty incident's summary is not edited (a re-trigger costs a slot)
    at = _on_grid(now + REFRESH_EVERY, int(REFRESH_EVERY.total_seconds()))
    job_id = f"storm-refresh-{digest(target, storm_inc)}-{int(at.timestamp())}"
    schedule(ctx, at, storm_refresh, [target, storm_inc], job_id, ctx.chat_queue)


def storm_refresh(target: str, storm_inc: str) -> None:
    """Edit the storm's Slack root message in place with the counts now."""
    ctx = current()
    incident = describe(ctx, target, storm_inc)
    if incident is None or incident.status == "resolved":
        return
    tag = f"{storm_inc}:refresh:{incident.alert_count}"
    deliver(incident.key, tag, [[target, "refresh", ""]], incident=incident)


def _schedule_check(ctx: Context, target: str, storm_inc: str, at: datetime) -> None:
    at = _on_grid(at, CHECK_GRID)
    job_id = f"storm-check-{digest(target, storm_inc)}-{int(at.timestamp())}"
    schedule(ctx, at, storm_check, [target, storm_inc], job_id)


def _on_grid(at: datetime, seconds: int) -> datetime:
    stamp = math.ceil(at.timestamp() / seconds) * seconds
    return datetime.fromtimestamp(stamp, UTC)


def storm_check(target: str, storm_inc: str) -> None:
    """End the storm if the rate stayed under the threshold for `cooldown`; else look
    again when it may have. Ending resolves the storm incident with a summary and lets
    each folded incident still open escalate on its own."""
    ctx = current()
    storm = ctx.policy.storms.get(target)
    cooldown = storm.cooldown if storm is not None else timedelta(0)  # folding removed
    keys = [state_key(ctx.prefix, target), index_key(ctx.prefix)]
    args: list[Any] = [target, storm_inc, repr(ctx.clock().timestamp()), cooldown.total_seconds()]
    code, due = ctx.redis.register_script(_END)(keys=keys, args=args)
    if int(code) == 0:
        _schedule_check(ctx, target, storm_inc, datetime.fromtimestamp(float(due), UTC))
        return
    if int(code) == 1:
        _end(ctx, target, storm_inc, cooldown)
    else:
        _release_all(ctx, target, storm_inc)  # a re-run after the state was dropped


def _end(ctx: Context, target: str, storm_inc: str, cooldown: timedelta) -> None:
    folded = _folded(ctx.redis, ctx.prefix, target, storm_inc)
    incidents = [ctx.store.get(key) for key in folded]
    live = [i for i in incidents if i is not None and i.inc == folded[i.key]]
    still = [i for i in live if i.status != "resolved"]
    summary = (
        f"Storm over: no more than the threshold for {format_duration(cooldown)}. "
        f"Folded {len(folded)} incidents ({len(folded) - len(still)} resolved, "
        f"{len(still)} still open now escalate on their own); "
        f"top services: {top_services(ctx, target, storm_inc)}"
    )
    storm_key = f"storm:{target}"
    record = ctx.store.get(storm_key)
    if record is not None and record.inc == storm_inc:
        ctx.store.resolve(storm_key, "alertgw", summary, ctx.clock())
    log.info("alert storm over: %s", summary, extra={"target": target})
    _release_all(ctx, target, storm_inc)


def _release_all(ctx: Context, target: str, storm_inc: str) -> None:
    from workers.escalation import steps  # steps asks this module what to fold

    folded_key = _part(ctx.prefix, target, storm_inc, "folded")
    for key, inc in _folded(ctx.redis, ctx.prefix, target, storm_inc).items():
        incident = ctx.store.get(key)
        if incident is not None and incident.inc == inc and incident.status == "open":
            line = f"storm storm:{target} over: escalates on its own"
            ctx.store.note(key, "unfolded", line, ctx.clock())
            steps.unfold(ctx, incident, target)
        ctx.redis.hdel(folded_key, key)  # released: a re-run does not page it again
    state = state_key(ctx.prefix, target)
    with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.delete(folded_key, _part(ctx.prefix, target, storm_inc, "services"))
        pipe.execute()
    if decoded(ctx.redis.hget(state, "inc") or b"") == storm_inc:
        ctx.redis.delete(state)


def _folded(client: redis.Redis, prefix: str, target: str, storm_inc: str) -> dict[str, str]:
    raw = client.hgetall(_part(prefix, target, storm_inc, "folded"))
    return {decoded(k): decoded(v) for k, v in raw.items()}
