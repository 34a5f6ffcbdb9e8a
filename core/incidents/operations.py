"""The incident transitions that come from outside the alert stream, as Lua scripts:
acknowledge, unacknowledge, resolve and notes by hand (PagerDuty, Slack, the API) and the
auto-resolve of a quiet incident. Each is one atomic Redis step, like the alert's own
transition (transitions.py, which also documents the keys).
"""

from __future__ import annotations

from core.incidents.transitions import PRELUDE

# KEYS: inc, timeline, changes, open:SEV1..SEV4, autoresolve
# ARGV: action (acknowledge | unacknowledge | resolve | note), by, text, now, cap, prefix,
#   window (a resolve retires the incident: its keys expire after the window)
# Acknowledge needs an open incident, unacknowledge an acknowledged one (back to open,
# no lead: escalation resumes), resolve an open or acknowledged one, a note any live
# one. Returns the new version, or 0 when the incident is not in a state for it.
OPERATE = (
    PRELUDE
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


# KEYS: inc, timeline, changes, autoresolve, open:SEV1..SEV4
# ARGV: key, inc, now, cap, prefix, window, text (say "no alert for 1h")
# Auto-resolves incarnation `inc` if it is live and has had no alert for its
# `auto_resolve`: one step like every resolve, so a resolve from the source, PagerDuty,
# Slack or the API racing it wins or loses whole (never two resolves). Keeps the
# auto-resolve set right: a later deadline (an alert came meanwhile) goes back in, and
# anything not live or without `auto_resolve` leaves it. Returns the new version, or 0.
AUTO_RESOLVE = (
    PRELUDE
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
