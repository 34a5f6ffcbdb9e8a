"""A posted status update (API, Slack modal): the thread and the root hear it, and the
next "status update due" reminder comes a full `update_every` after it.

The update itself was recorded on the incident in one step (`core.status_updates.post`),
which wrote a `status_update` change; `workers.incidents.changes` hands that here.
"""

from __future__ import annotations

from core.incidents.record import Incident
from core.status_updates import parse_change, template
from workers.context import Context
from workers.delivery.jobs import deliver, rows_of
from workers.escalation import path as escalation
from workers.escalation import reminders


def posted(ctx: Context, incident: Incident, text: str) -> None:
    """Edit the Slack root's Status, post the INCIDENT UPDATE block in the thread, and
    restart the reminder clock."""
    number, status, _ = parse_change(text)  # its own status, though a later one may be in
    now, key = ctx.clock(), incident.key
    every = reminders.update_every(ctx, incident)
    block = template(incident, status, ctx.store.timeline(key), now, every)
    notified = ctx.store.notified(key)
    rows = rows_of(escalation.updates(ctx.policy, notified, "status_update", block))
    deliver(key, f"{incident.inc}:update:{number}", rows, incident=incident)
    if every is not None:
        # the reminder queued after the last one claimed: XX, so none is added for an
        # incident that has no reminder pending (not SEV1/SEV2, or silenced from start)
        following = reminders.Reminder(key, incident.inc, incident.reminder + 1)
        score = (now + every).timestamp()
        ctx.redis.zadd(ctx.store.reminders_key, {following.member: score}, xx=True)
