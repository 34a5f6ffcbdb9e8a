"""The incident state machine, as Lua scripts: each transition is one atomic Redis step.

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

# Shared Lua helpers, prepended to every script.
_PRELUDE = """
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
    _PRELUDE
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

# KEYS: inc, timeline, changes, open:SEV1..SEV4, autoresolve
# ARGV: action (acknowledge | unacknowledge | resolve | note), by, text, now, cap, prefix,
#   window (a resolve retires the incident: its keys expire after the window)
# Acknowledge needs an open incident, unacknowledge an acknowledged one (back to open,
# no lead: escalation resumes), resolve an open or acknowledged one, a note any live
# one. Returns the new version, or 0 when the incident is not in a state for it.
OPERATE = (
    _PRELUDE
    + """
local inc_key, tl, changes = KEYS[1], KEYS[2], KEYS[3]
local action, by, text, now, cap = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local status = redis.call('HGET', inc_key, 'status')
local live = status == 'open' or status == 'acknowledged'
if action == 'acknowledge' and status ~= 'open' then return 0 end
if action == 'unacknowledge' and status ~= 'acknowledged' then return 0 end
if not live then return 0 end
local r = redis.call('HMGET', inc_key, 'key', 'inc', 'severity')
local version = tonumber(redis.call('HGET', inc_key, 'version'))
local line = by
if text ~= '' then line = by .. ': ' .. text end
if action == 'acknowledge' then
  version = redis.call('HINCRBY', inc_key, 'version', 1)
  redis.call('HSET', inc_key, 'status', 'acknowledged', 'lead', by, 'updated_at', now)
  timeline(tl, now, 'acknowledged', line, cap)
elseif action == 'unacknowledge' then
  version = redis.call('HINCRBY', inc_key, 'version', 1)
  redis.call('HSET', inc_key, 'status', 'open', 'lead', '', 'updated_at', now)
  timeline(tl, now, 'unacknowledged', line, cap)
elseif action == 'resolve' then
  version = redis.call('HINCRBY', inc_key, 'version', 1)
  redis.call('HSET', inc_key, 'status', 'resolved', 'resolved_at', now, 'resolved_by', by,
    'updated_at', now)
  redis.call('ZREM', KEYS[3 + tonumber(string.sub(r[3], 4))], r[1])
  timeline(tl, now, 'resolved', line, cap)
  retire(ARGV[6], r[1], now, tonumber(ARGV[7]), KEYS[8])
else
  timeline(tl, now, 'note', line, cap)
end
change(changes, r[1], r[2], version, action, by, text)
return version
"""
)

# KEYS: inc, timeline, notified. ARGV: inc, version, step, now, cap, text
# Claims escalation step `step` of incarnation `inc` at `version`: only while the incident
# is open (not acknowledged or resolved) and at that version. Returns {1, now, notified}
# for a fresh claim, {2, claimed_at, notified} when this step is already the current one
# (a re-run of a job that died mid-delivery: its sends are idempotent, so it may finish
# them), {0, '', {}} when stale or past the step. `notified` is the targets told so far
# (who hears `escalate` rather than `trigger`), read here to save a round trip.
CLAIM_STEP = (
    _PRELUDE
    + """
local r = redis.call('HMGET', KEYS[1], 'status', 'inc', 'version', 'step', 'step_at')
if r[1] ~= 'open' or r[2] ~= ARGV[1] or r[3] ~= ARGV[2] then return {0, '', {}} end
local step, wanted = tonumber(r[4]), tonumber(ARGV[3])
if step == wanted then return {2, r[5], redis.call('SMEMBERS', KEYS[3])} end
if step > wanted then return {0, '', {}} end
redis.call('HSET', KEYS[1], 'step', ARGV[3], 'step_at', ARGV[4])
timeline(KEYS[2], tonumber(ARGV[4]), 'escalated', ARGV[6], tonumber(ARGV[5]))
return {1, ARGV[4], redis.call('SMEMBERS', KEYS[3])}
"""
)

# KEYS: sent marker, notified, inc, timeline
# ARGV: marker ttl, paged target ('' for none), thread channel, thread ts ('' for none),
#   now, cap, timeline text ('' for none)
# Records one delivery as sent in one step: the marker turns "sent"; a page adds its
# target to `notified` (kept as long as the record: the set is created here, after the
# apply script set the expiry of the incident's other keys; with the marker's when the
# incident is gone); the first Slack root message becomes the thread (unless one is
# stored, or the incident is gone); a `notified` timeline entry (RPUSHX: a late delivery
# never recreates the timeline of an incident that expired, which then would not expire).
SENT = (
    _PRELUDE
    + """
redis.call('SET', KEYS[1], 'sent', 'EX', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('SADD', KEYS[2], ARGV[2])
  local ttl = redis.call('PTTL', KEYS[3])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
  if ttl == -2 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
end
if ARGV[4] ~= '' and redis.call('EXISTS', KEYS[3]) == 1
    and (redis.call('HGET', KEYS[3], 'thread_ts') or '') == '' then
  redis.call('HSET', KEYS[3], 'thread_channel', ARGV[3], 'thread_ts', ARGV[4])
end
if ARGV[7] ~= '' then
  local entry = cjson.encode({at = tonumber(ARGV[5]), kind = 'notified', text = ARGV[7]})
  if redis.call('RPUSHX', KEYS[4], entry) > 0 then
    redis.call('LTRIM', KEYS[4], -tonumber(ARGV[6]), -1)
  end
end
return 1
"""
)

# KEYS: inc. ARGV: inc, seq. Claims status-update reminder `seq` while the incarnation is
# live: 1 fresh, 2 when `seq` is already the current one (a re-run), 0 otherwise.
CLAIM_REMINDER = """
local r = redis.call('HMGET', KEYS[1], 'status', 'inc', 'reminder')
if r[2] ~= ARGV[1] or (r[1] ~= 'open' and r[1] ~= 'acknowledged') then return 0 end
if tonumber(r[3]) == tonumber(ARGV[2]) then return 2 end
if tonumber(r[3]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'reminder', ARGV[2])
return 1
"""

# KEYS: inc, timeline. ARGV: inc, cause, now, cap, kind, text
# Records that incarnation `inc` is muted by `cause` (a silence, an inhibiting incident):
# a timeline entry the first time that cause mutes it. 1 when recorded, 0 when already
# recorded or the incident is no longer live.
MUTE = (
    _PRELUDE
    + """
local r = redis.call('HMGET', KEYS[1], 'status', 'inc', 'muted')
if r[2] ~= ARGV[1] or (r[1] ~= 'open' and r[1] ~= 'acknowledged') then return 0 end
if r[3] == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'muted', ARGV[2])
timeline(KEYS[2], tonumber(ARGV[3]), ARGV[5], ARGV[6], tonumber(ARGV[4]))
return 1
"""
)

# KEYS: inc, timeline, changes, autoresolve, open:SEV1..SEV4
# ARGV: key, inc, now, cap, prefix, window, text (say "no alert for 1h")
# Auto-resolves incarnation `inc` if it is live and has had no alert for its
# `auto_resolve`: one step like every resolve, so a resolve from the source, PagerDuty,
# Slack or the API racing it wins or loses whole (never two resolves). Keeps the
# auto-resolve set right: a later deadline (an alert came meanwhile) goes back in, and
# anything not live or without `auto_resolve` leaves it. Returns the new version, or 0.
AUTO_RESOLVE = (
    _PRELUDE
    + """
local key, now = ARGV[1], tonumber(ARGV[3])
local r = redis.call('HMGET', KEYS[1], 'status', 'inc', 'severity', 'auto_resolve',
  'last_alert_at')
local quiet = tonumber(r[4] or '0') or 0
if (r[1] ~= 'open' and r[1] ~= 'acknowledged') or quiet <= 0 then
  redis.call('ZREM', KEYS[4], key)
  return 0
end
local due = tonumber(r[5]) + quiet
if due > now or r[2] ~= ARGV[2] then
  redis.call('ZADD', KEYS[4], due, key)
  return 0
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', now,
  'resolved_by', 'auto-resolve', 'updated_at', now)
redis.call('ZREM', KEYS[4 + tonumber(string.sub(r[3], 4))], key)
timeline(KEYS[2], now, 'resolved', 'Auto-resolved: ' .. ARGV[7], tonumber(ARGV[4]))
change(KEYS[3], key, r[2], version, 'auto_resolve', 'alertgw', ARGV[7])
retire(ARGV[5], key, now, tonumber(ARGV[6]), KEYS[4])
return version
"""
)
