"""Status-update reminders: "status update due" in the Slack thread of a live SEV1/SEV2.

Reminder `seq` of an incarnation is claimed in Redis (`IncidentStore.claim_reminder`)
before it is sent, so a re-run of a job that died finishes its sends and no reminder is
said twice; each schedules the next, `update_every` later, until the incident resolves.
"""

from __future__ import annotations

from datetime import timedelta

from workers import escalation
from workers.context import Context, current
from workers.delivery_jobs import deliver, rows_of
from workers.incident_record import Incident
from workers.scheduling import digest, schedule


def remind(key: str, inc: str, seq: int) -> None:
    """Status-update reminder `seq` for a live SEV1/SEV2 incident, then the next one."""
    ctx = current()
    incident = ctx.store.get(key)
    every = update_every(ctx, incident)
    # a re-run (claim 2) finishes the sends of a job that died; they are idempotent
    if incident is None or every is None or not ctx.store.claim_reminder(key, inc, seq):
        return
    text = f"Status update due ({incident.severity}: every {_minutes(every)})"
    notified = ctx.store.notified(key)
    rows = rows_of(escalation.updates(ctx.policy, notified, "status_update_due", text))
    deliver(key, f"{inc}:reminder:{seq}", rows)
    schedule_reminder(ctx, incident, seq + 1)


def schedule_reminder(ctx: Context, incident: Incident, seq: int) -> None:
    """Reminder `seq`, `update_every` from now, if the incident's severity has one."""
    every = update_every(ctx, incident)
    if every is not None:
        job_id = f"rem-{digest(incident.key, incident.inc)}-{seq}"
        at = ctx.clock() + every
        args = [incident.key, incident.inc, seq]
        schedule(ctx, at, remind, args, job_id, ctx.queue_for(incident.severity))


def update_every(ctx: Context, incident: Incident | None) -> timedelta | None:
    """How often a live incident is due a status update (None: never, or not live)."""
    if incident is None or incident.status == "resolved":
        return None
    severity = ctx.policy.severities.get(incident.severity)
    return severity.update_every if severity else None


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)}m"
