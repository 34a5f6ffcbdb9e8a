"""The escalation's bookkeeping on an incident, as Lua scripts: claiming a step or a
status-update reminder (so each fires once however many workers race), recording a send,
and recording a mute. Each is one atomic Redis step (keys: transitions.py).
"""

from __future__ import annotations

from core.incidents.transitions import PRELUDE

# KEYS: inc, timeline, notified. ARGV: inc, version, step, now, cap, text
# Claims escalation step `step` of incarnation `inc` at `version`: only while the incident
# is open (not acknowledged or resolved) and at that version. Returns {1, now, notified}
# for a fresh claim, {2, claimed_at, notified} when this step is already the current one
# (a re-run of a job that died mid-delivery: its sends are idempotent, so it may finish
# them), {0, '', {}} when stale or past the step. `notified` is the targets told so far
# (who hears `escalate` rather than `trigger`), read here to save a round trip.
CLAIM_STEP = (
    PRELUDE
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
    PRELUDE
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
    PRELUDE
    + """
local r = redis.call('HMGET', KEYS[1], 'status', 'inc', 'muted')
if r[2] ~= ARGV[1] or (r[1] ~= 'open' and r[1] ~= 'acknowledged') then return 0 end
if r[3] == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'muted', ARGV[2])
timeline(KEYS[2], tonumber(ARGV[3]), ARGV[5], ARGV[6], tonumber(ARGV[4]))
return 1
"""
)
