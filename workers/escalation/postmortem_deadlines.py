"""After a SEV1/SEV2 resolves: its postmortem begins, and its deadline is kept.

When a resolve of an incident whose severity the rules' `postmortem` section names is
handled (`workers.incidents.changes`), the postmortem begins (`core.postmortems`), the thread
gets a link to the draft and the due time (resolve + `due`), and the first deadline
reminder goes into the same sorted set as the status-update reminders, swept by the same
job (`workers.escalation.reminders`), as member `pm:<seq>:<inc>:<key>`:

  seq 1: 24 h before the due time, seq 2: 2 h before, seq 3: at the due time (overdue),
  then one a day while overdue,

skipping those already past when the postmortem begins (a `due` under a day). Each is
claimed in the postmortem's record before it is sent, and none is sent once the
postmortem is marked done.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import quote

from core.incidents.record import Incident
from core.postmortems import Postmortem, PostmortemStore
from workers.context import Context
from workers.delivery.jobs import deliver, rows_of
from workers.escalation import incident_channels
from workers.escalation import path as escalation

log = logging.getLogger(__name__)

MEMBER_PREFIX = "pm:"
BEFORE_DUE = (timedelta(hours=24), timedelta(hours=2))
OVERDUE_EVERY = timedelta(days=1)


def store(ctx: Context) -> PostmortemStore:
    return PostmortemStore(ctx.store)


def resolved(ctx: Context, incident: Incident) -> bool:
    """Begin the postmortem of a resolved incident the rules want one for; True when it
    began now (its first deadline reminder is in the set: a sweep must come for it)."""
    rule = ctx.policy.postmortem
    if rule is None or incident.severity not in rule.severities:
        return False
    postmortems = store(ctx)
    if not postmortems.begin(incident, rule.due):
        return False  # begun by an earlier run of this change, or re-fired meanwhile
    postmortem = postmortems.get(incident.key, incident.inc)
    assert postmortem is not None, "begin() wrote it"
    first = next_reminder(postmortem, 0, ctx.clock())
    ctx.redis.zadd(ctx.store.reminders_key, {first[0]: first[1].timestamp()}, nx=True)
    text = (
        f"Postmortem due {_at(postmortem.due_at)}. Draft: {draft_location(ctx, incident.key)}. "
        "Mark it done with a link to the written document "
        f"(`alertgw incidents postmortem {_shell(incident.key)} --done --link URL`)."
    )
    _say(ctx, incident.key, incident.inc, "postmortem:begun", text)
    return True


def next_reminder(postmortem: Postmortem, after: int, now: datetime) -> tuple[str, datetime]:
    """The first deadline reminder after seq `after` that is not yet past: (member, at)."""
    seq = after + 1
    while (at := reminder_at(postmortem.due_at, seq)) < now and seq < len(BEFORE_DUE) + 1:
        seq += 1
    return f"{MEMBER_PREFIX}{seq}:{postmortem.inc}:{postmortem.key}", at


def reminder_at(due: datetime, seq: int) -> datetime:
    """When deadline reminder `seq` (from 1) is due."""
    if seq <= len(BEFORE_DUE):
        return due - BEFORE_DUE[seq - 1]
    return due + OVERDUE_EVERY * (seq - len(BEFORE_DUE) - 1)


def remind(ctx: Context, member: str) -> tuple[str, datetime] | None:
    """Send deadline reminder `member` unless the postmortem is done; the one after it."""
    seq, inc, key = member.removeprefix(MEMBER_PREFIX).split(":", 2)
    postmortems = store(ctx)
    postmortem = postmortems.get(key, inc)
    if postmortem is None or not postmortems.claim_reminder(key, inc, int(seq)):
        return None
    now = ctx.clock()
    if now < postmortem.due_at:
        hours = round((postmortem.due_at - now).total_seconds() / 3600)
        when = f"due in {hours} hours ({_at(postmortem.due_at)})"
    else:
        days = (now - postmortem.due_at).days
        late = f", {days} day{'s' if days != 1 else ''} late" if days else ""
        when = f"overdue since {_at(postmortem.due_at)}{late}"
    text = (
        f"Postmortem {when}. Draft: {draft_location(ctx, key)}. "
        "Reminders stop when it is marked done with a link to the written document."
    )
    _say(ctx, key, inc, f"postmortem:{seq}", text)
    return next_reminder(postmortem, int(seq), now)


def draft_location(ctx: Context, key: str) -> str:
    """Where people read the draft: a link when ALERTGW_PUBLIC_URL is set, else the path."""
    path = f"/api/v1/incidents/{quote(key, safe='')}/postmortem.md"
    base = ctx.settings.public_url
    return f"{str(base).rstrip('/')}{path}" if base else f"GET {path}"


def _say(ctx: Context, key: str, inc: str, tag: str, text: str) -> None:
    """A line in the incident's Slack thread(s), and in its channel if it has one."""
    notified = ctx.store.notified(key)
    rows = rows_of(escalation.updates(ctx.policy, notified, "postmortem_due", text))
    deliver(key, f"{inc}:{tag}", rows)
    incident_channels.say(ctx, key, inc, tag, text)


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _shell(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
