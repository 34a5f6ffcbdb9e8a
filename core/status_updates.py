"""Status updates in the plan's template, and posting one (API, Slack modal).

The plan's INCIDENT UPDATE block (Time, Severity, Status, Impact, Next Update, Actions
Taken) is what the `update_every` reminder posts in the incident's thread, as the form
to fill in, and what a posted update says. A posted update is one atomic step on the
incident's record (`post`): a timeline entry (kind `status_update`), the incident's
current status in the plan's words, and a `status_update` change for the workers, who
edit the Slack root message's Status, post the block in the thread and restart the
reminder clock (`workers.escalation.posted_updates`). Shared by the gateway (which posts) and the
workers (which render), so it lives beside the other pieces both sides use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from core.incidents.record import Incident, TimelineEntry, since_opened
from core.incidents.store import TIMELINE_CAP, IncidentStore

# The plan's words for where an open incident stands (Resolved is the resolve itself).
STATUSES = ("Investigating", "Mitigating", "Monitoring")
ACTIONS_TAKEN = ("note", "status_update")  # timeline kinds listed under Actions Taken
MAX_ACTIONS = 20  # the block stays readable (and within Slack's 3,000 characters)

# KEYS: record, timeline, changes. ARGV: status, text, by, now, cap.
# The update's number (from 1, per key), or 0 when the incident is not open or
# acknowledged. The status is stored with the incarnation it belongs to, so a key that
# opens again starts from Investigating.
_POST = """
local r = redis.call('HMGET', KEYS[1], 'status', 'key', 'inc', 'version')
if r[1] ~= 'open' and r[1] ~= 'acknowledged' then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'updates', 1)
local now = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'update_status', r[3] .. '|' .. ARGV[1], 'updated_at', now)
redis.call('RPUSH', KEYS[2], cjson.encode({at = now, kind = 'status_update',
  text = ARGV[3] .. ': [' .. ARGV[1] .. '] ' .. ARGV[2]}))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
local body = cjson.encode({n = n, status = ARGV[1], text = ARGV[2]})
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'key', r[2], 'inc', r[3],
  'version', r[4], 'action', 'status_update', 'by', ARGV[3], 'text', body)
return n
"""


def post(store: IncidentStore, key: str, status: str, text: str, by: str, now: datetime) -> int:
    """Post a status update on a live incident: its number, or 0 when it is not live."""
    assert status in STATUSES, status  # callers validate user input first
    script = store.redis.register_script(_POST)
    keys = [store.key_of(key), store.key_of(key, "timeline"), store.changes_key]
    return int(script(keys=keys, args=[status, text, by, now.timestamp(), TIMELINE_CAP]))


def posted_status(incident: Incident) -> str | None:
    """The status last posted for this incarnation of a live incident, if any."""
    inc, _, status = (incident.update_status or "").partition("|")
    live = incident.status != "resolved"
    return status if live and inc == incident.inc and status in STATUSES else None


def current_status(incident: Incident) -> str:
    """The plan's word for where the incident stands: the last posted status, else
    Investigating (Resolved once resolved)."""
    if incident.status == "resolved":
        return "Resolved"
    return posted_status(incident) or "Investigating"


def template(
    incident: Incident,
    status: str,
    timeline: Sequence[TimelineEntry],
    now: datetime,
    every: timedelta | None,
) -> str:
    """The INCIDENT UPDATE block: the plan's fields, Actions Taken from the notes and
    updates of this incarnation (the latest MAX_ACTIONS)."""
    this = since_opened(list(timeline), incident.opened_at)
    taken = [e for e in this if e.kind in ACTIONS_TAKEN]
    lines = [f"- {_at(e.at)} {e.text}" for e in taken[-MAX_ACTIONS:]] or ["- none recorded yet"]
    if len(taken) > MAX_ACTIONS:
        lines.insert(0, f"- ({len(taken) - MAX_ACTIONS} earlier in the timeline)")
    next_update = _at(now + every) if every else "when it changes"
    return "\n".join(
        [
            "INCIDENT UPDATE",
            f"Time: {_at(now)}",
            f"Severity: {incident.severity}",
            f"Status: {status}",
            f"Impact: {incident.summary or incident.title}",
            f"Next Update: {next_update}",
            "Actions Taken:",
            *lines,
        ]
    )


def parse_change(text: str) -> tuple[int, str, str]:
    """(number, status, text) of a `status_update` change's text."""
    body = json.loads(text)
    return int(body["n"]), str(body["status"]), str(body["text"])


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
