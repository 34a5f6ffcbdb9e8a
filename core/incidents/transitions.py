"""The incident state machine, as Lua scripts: each transition is one atomic Redis step.
This module holds the alert's transition (APPLY_ALERT) and the helpers every script
shares; the transitions by hand and by the clock are in operations.py, the escalation's
bookkeeping (claims of steps and reminders, sends, mutes) in claims.py.

Why Lua: any number of worker processes apply alerts concurrently, and a page must go out
exactly once per incident. Each script checks, changes the incident, appends a timeline
entry and writes the resulting change to the `changes` stream (a transactional outbox the
dispatcher turns into RQ jobs) in one step, so a worker dying anywhere leaves either all
of it or none of it. The intake script also acknowledges and deletes the hand-off entry,
so an entry is applied at most once even when a slow consumer's entry was claimed by
another: the script refuses an entry that is no longer pending.

Keys of one incident (kept while it is open or acknowledged; all expire the dedupe window
after it is resolved, so Redis holds only live incidents and recently resolved ones):
  <p>inc:<key>            hash: the record (status, severity, version, inc, step, ...)
  <p>inc:<key>:alerts     hash: fingerprint -> firing | resolved
  <p>inc:<key>:timeline   list: JSON entries, newest last, capped
  <p>inc:<key>:notified   set: target names notified (resolve and updates go to them)
Indexes: <p>incidents (zset, score = expiry; +inf while live), <p>open:<SEV> (zset of open
or acknowledged incidents, score +inf), <p>fp:<fingerprint> (set: the incidents holding
that alert, expiring with the last live one; an alert whose level changes matches another
rule, so its incident is found by fingerprint, not by key), <p>autoresolve (zset: live
incidents with an `auto_resolve`, score = when they are due, see workers.incidents.autoresolve),
and the outbox stream <p>changes.
"""

from __future__ import annotations

# Shared Lua helpers, prepended to every script (also those of operations.py and claims.py).
PRELUDE = """
local function timeline(key, at, kind, text, cap)
  redis.call('RPUSH', key, cjson.encode({at = at, kind = kind, text = text}))
  redis.call('LTRIM', key, -cap, -1)
end
local function change(stream, key, inc, version, action, by, text)
  redis.call('XADD', stream, 'MAXLEN', '~', 100000, '*', 'key', key, 'inc', inc,
    'version', version, 'action', action, 'by', by, 'text', text or '')
end
local function keep(keys, seconds)
  for _, k in ipairs(keys) do redis.call('EXPIRE', k, seconds) end
end
local function parts(prefix, key)
  local rec = prefix .. 'inc:' .. key
  return {rec, rec .. ':alerts', rec .. ':timeline', rec .. ':notified'}
end
-- A resolved incident: its keys expire after the window, and so does the index of each
-- of its fingerprints that no other live incident holds; it leaves the auto-resolve set.
local function retire(prefix, key, now, window, autoresolve)
  local own = parts(prefix, key)
  for _, fp in ipairs(redis.call('HKEYS', own[2])) do
    local index, needed = prefix .. 'fp:' .. fp, false
    for _, other in ipairs(redis.call('SMEMBERS', index)) do
      local s = redis.call('HGET', prefix .. 'inc:' .. other, 'status')
      if other ~= key and (s == 'open' or s == 'acknowledged') then needed = true end
    end
    if not needed then redis.call('EXPIRE', index, window) end
  end
  keep(own, window)
  redis.call('ZADD', prefix .. 'incidents', now + window, key)
  redis.call('ZREM', autoresolve, key)
end
"""

# KEYS: inc, alerts, timeline, notified (of the alert's own key), changes, incidents,
#   intake stream, fingerprint index, open:SEV1..SEV4, reminders, autoresolve
# ARGV[1]: JSON {prefix, group, entry, key, fingerprint, status, severity, rule,
#   escalation, siblings, now, window, cap, remind_after, auto_resolve, fields: {title,
#   summary, service, environment, source, labels, links, received_at}}
# `auto_resolve` is the quiet in seconds after which this alert lets its incident be
# auto-resolved (0: never). An incident keeps the longest of its alerts', never winning:
# it is not resolved while an alert that resolves by itself may still be firing.
# `remind_after` is the alert's severity's status-update interval in seconds (0: none):
# an incident opened or raised at such a severity gets its next reminder due then, in
# the reminders set (see workers.escalation.reminders), in the same step.
# `siblings` is a set ({key: true}) of the incident keys this alert is classified into
# right now (rules with `continue: true`): a fingerprint held by one of them is not
# redirected there. Returns {outcome, version, severity, inc, key} with outcome one of
# opened, joined, raised, resolved, partial, ignored, duplicate, and the key it applied to.
#
# The fingerprint index names incidents the script did not get in KEYS (it reads them
# from the index): fine on one Redis or a Sentinel pair, not on Redis Cluster, where a
# script may touch only the keys it declares (and all in one slot).
APPLY_ALERT = (
    PRELUDE
    + """
local a = cjson.decode(ARGV[1])
local changes, index, intake, fp_index = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local function open_index(sev) return KEYS[8 + tonumber(string.sub(sev, 4))] end
local function rank(sev) return tonumber(string.sub(sev, 4)) end
local function keys_of(key)
  local rec = a.prefix .. 'inc:' .. key
  return {rec = rec, alerts = rec .. ':alerts', tl = rec .. ':timeline',
    notified = rec .. ':notified'}
end
local function is_live(key)
  local status = redis.call('HGET', keys_of(key).rec, 'status')
  return status == 'open' or status == 'acknowledged'
end
local function remind_later(key, inc, seq)
  if a.remind_after <= 0 then return end
  local member = seq .. ':' .. inc .. ':' .. key
  redis.call('ZADD', KEYS[13], 'NX', a.now + a.remind_after, member)
end
local function holds(key)
  return is_live(key) and redis.call('HEXISTS', keys_of(key).alerts, a.fingerprint) == 1
end

local pending = redis.call('XPENDING', intake, a.group, a.entry, a.entry, 1)
if #pending == 0 then return {'duplicate', 0, '', '', ''} end
redis.call('XACK', intake, a.group, a.entry)
redis.call('XDEL', intake, a.entry)

-- live incidents never expire (see retire for resolved ones)
local expires = '+inf'
local function quiet_until(key, combined)
  local rec = keys_of(key).rec
  redis.call('HSET', rec, 'auto_resolve', combined, 'last_alert_at', a.now)
  if combined > 0 then
    redis.call('ZADD', KEYS[14], a.now + combined, key)
  else
    redis.call('ZREM', KEYS[14], key)
  end
end

-- live incidents holding this fingerprint (the index forgets the others as it goes)
local holders = {}
for _, k in ipairs(redis.call('SMEMBERS', fp_index)) do
  if holds(k) then table.insert(holders, k) else redis.call('SREM', fp_index, k) end
end

-- a firing alert goes where its fingerprint already lives, whatever rule matched now:
-- the most severe live holder that is not one of this alert's own incidents
local function home()
  if holds(a.key) then return a.key end
  local best, best_rank = a.key, 5
  for _, k in ipairs(holders) do
    local sev = redis.call('HGET', keys_of(k).rec, 'severity')
    if not a.siblings[k] and rank(sev) < best_rank then best, best_rank = k, rank(sev) end
  end
  return best
end

local function open(key)
  local k, f = keys_of(key), a.fields
  redis.call('DEL', k.alerts, k.notified)
  redis.call('HSET', k.alerts, a.fingerprint, 'firing')
  local version = redis.call('HINCRBY', k.rec, 'version', 1)
  redis.call('HSET', k.rec, 'key', key, 'inc', a.entry, 'status', 'open',
    'severity', a.severity, 'rule', a.rule, 'escalation', a.escalation,
    'title', f.title, 'summary', f.summary, 'service', f.service,
    'environment', f.environment, 'source', f.source, 'labels', f.labels,
    'links', f.links, 'opened_at', a.now, 'received_at', f.received_at,
    'updated_at', a.now, 'lead', '', 'alert_count', 1, 'step', -1, 'step_at', '',
    'reminder', 0, 'muted', '',
    'thread_channel', '', 'thread_ts', '', 'resolved_at', '', 'resolved_by', '')
  timeline(k.tl, a.now, 'opened', a.severity .. ' by rule ' .. a.rule .. ': ' .. f.title, a.cap)
  redis.call('ZADD', open_index(a.severity), expires, key)
  remind_later(key, a.entry, 1)
  quiet_until(key, a.auto_resolve)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', a.now)  -- forget what has expired
  change(changes, key, a.entry, version, 'opened', '')
  return 'opened'
end

-- the record shows the alert that last changed it: a firing at the incident's
-- severity or a raise (a less severe alert only joins: a SEV1 keeps its SEV1 labels)
local function describe(k)
  local f = a.fields
  redis.call('HSET', k.rec, 'title', f.title, 'summary', f.summary, 'service', f.service,
    'environment', f.environment, 'source', f.source, 'labels', f.labels, 'links', f.links)
end

local function join(key)
  local k = keys_of(key)
  redis.call('HSET', k.alerts, a.fingerprint, 'firing')
  redis.call('HINCRBY', k.rec, 'alert_count', 1)
  redis.call('HSET', k.rec, 'updated_at', a.now)
  local held = tonumber(redis.call('HGET', k.rec, 'auto_resolve') or '0')
  if held > 0 and a.auto_resolve > 0 then
    quiet_until(key, math.max(held, a.auto_resolve))
  else
    quiet_until(key, 0)
  end
  local current = redis.call('HGET', k.rec, 'severity')
  if rank(a.severity) == rank(current) then describe(k) end
  if rank(a.severity) >= rank(current) then
    redis.call('ZADD', open_index(current), expires, key)
    timeline(k.tl, a.now, 'joined', a.fingerprint, a.cap)
    return 'joined'
  end
  -- raised in place: same key (PagerDuty's dedup_key), the new rule's escalation path.
  -- `step` counts on the new path: -1 until a step of it fires (workers.escalation.steps.raised
  -- compares the paths by their targets, never by index)
  redis.call('ZREM', open_index(current), key)
  redis.call('ZADD', open_index(a.severity), expires, key)
  local version = redis.call('HINCRBY', k.rec, 'version', 1)
  redis.call('HSET', k.rec, 'severity', a.severity, 'rule', a.rule, 'escalation', a.escalation,
    'step', -1)
  describe(k)
  local why = ' (' .. a.fingerprint .. ', rule ' .. a.rule .. ')'
  if redis.call('HGET', k.rec, 'status') == 'acknowledged' then
    why = why .. ': acknowledged by ' .. redis.call('HGET', k.rec, 'lead') .. ', nobody paged'
  end
  timeline(k.tl, a.now, 'severity_raised', current .. ' -> ' .. a.severity .. why, a.cap)
  local r = redis.call('HMGET', k.rec, 'inc', 'reminder')
  -- NX: a reminder already pending for this incident keeps its time
  remind_later(key, r[1], tonumber(r[2]) + 1)
  change(changes, key, r[1], version, 'severity_raised', '')
  return 'raised'
end

local function resolve_in(key)
  local k = keys_of(key)
  redis.call('HSET', k.alerts, a.fingerprint, 'resolved')
  redis.call('HSET', k.rec, 'updated_at', a.now)
  local firing = 0
  for _, s in ipairs(redis.call('HVALS', k.alerts)) do
    if s == 'firing' then firing = firing + 1 end
  end
  if firing > 0 then
    local text = a.fingerprint .. ' (' .. firing .. ' still firing)'
    timeline(k.tl, a.now, 'alert_resolved', text, a.cap)
    return 'partial'
  end
  local current = redis.call('HGET', k.rec, 'severity')
  local version = redis.call('HINCRBY', k.rec, 'version', 1)
  redis.call('HSET', k.rec, 'status', 'resolved', 'resolved_at', a.now, 'resolved_by', 'source')
  redis.call('ZREM', open_index(current), key)
  timeline(k.tl, a.now, 'resolved', 'all alerts resolved at the source', a.cap)
  change(changes, key, redis.call('HGET', k.rec, 'inc'), version, 'resolve', 'source')
  return 'resolved'
end

local function touch(key)
  if not is_live(key) then return retire(a.prefix, key, a.now, a.window, KEYS[14]) end
  for _, k in ipairs(parts(a.prefix, key)) do redis.call('PERSIST', k) end
  redis.call('ZADD', index, expires, key)
end

local outcome, key
if a.status == 'firing' then
  key = home()
  if is_live(key) then outcome = join(key) else outcome = open(key) end
  touch(key)
  redis.call('SADD', fp_index, key)
  redis.call('PERSIST', fp_index)
else
  -- a resolve ends the fingerprint wherever it fires, whatever rule matched the resolve
  local targets = holders
  if holds(a.key) and redis.call('SISMEMBER', fp_index, a.key) == 0 then
    table.insert(targets, a.key)
  end
  local order = {ignored = 0, partial = 1, resolved = 2}
  outcome = 'ignored'
  for _, k in ipairs(targets) do
    local done = resolve_in(k)
    touch(k)
    if order[done] > order[outcome] or key == nil then outcome, key = done, k end
  end
  if key == nil then return {'ignored', 0, '', '', ''} end
end

local r = redis.call('HMGET', keys_of(key).rec, 'version', 'severity', 'inc')
return {outcome, tonumber(r[1]), r[2], r[3], key}
"""
)
