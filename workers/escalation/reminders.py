"""Status-update reminders: "status update due" in the Slack thread of a live SEV1/SEV2,
with the plan's INCIDENT UPDATE block filled in so far (`core.status_updates`).

The reminders due are one sorted set in Redis (`<prefix>reminders`, score = when due,
member `<seq>:<inc>:<key>`), not an RQ job each: an RQ job costs a new incident ~0.4 ms
of worker CPU and a Redis round trip to schedule, and ~1 KB of Redis until it runs.
Applying an alert that opens (or raises) a SEV1/SEV2 incident adds its next reminder in
the same Lua step (`core.incidents.transitions`), so it survives anything a worker does next.

A sweep job (`remind_due`, see `workers.delivery.sweeps`) takes the reminders due, sends each, and
puts the next one in the set; the dispatcher asks for the sweep after a new incident's
first reminder.

Reminder `seq` of an incarnation is claimed in Redis (`IncidentStore.claim_reminder`)
before it is sent, so a re-run finishes the sends of a sweep that died (they are
idempotent) and no reminder is said twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.incidents.record import Incident, decoded
from core.status_updates import current_status, template
from workers.context import Context, current
from workers.delivery import sweeps
from workers.delivery.jobs import deliver, rows_of
from workers.delivery.sweeps import LEASE, SWEEP_GRID, take_due
from workers.escalation import incident_channels, postmortem_deadlines
from workers.escalation import path as escalation

TAG = "rmd"  # the job id tag of reminder sweeps
__all__ = [  # LEASE and SWEEP_GRID: a reminder goes out at most SWEEP_GRID late
    "LEASE",
    "SWEEP_GRID",
    "Reminder",
    "ensure_sweep",
    "keep_sweeping",
    "remind",
    "remind_due",
]


@dataclass(frozen=True)
class Reminder:
    """Status-update reminder `seq` of incarnation `inc` of incident `key`."""

    key: str
    inc: str
    seq: int

    @property
    def member(self) -> str:
        return f"{self.seq}:{self.inc}:{self.key}"

    @classmethod
    def parse(cls, member: bytes | str) -> Reminder:
        text = member.decode() if isinstance(member, bytes) else member
        seq, inc, key = text.split(":", 2)  # an incarnation is a stream id: no colon
        return cls(key, inc, int(seq))


def remind_due() -> None:
    """A sweep: send the reminders due, queue the next of each, ask for the next sweep."""
    ctx = current()
    key = ctx.store.reminders_key
    for due in take_due(ctx, key, ctx.clock()):
        for member in map(decoded, due):
            following = _follow(ctx, member)
            with ctx.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(key, member)
                if following is not None:
                    pipe.zadd(key, {following[0]: following[1].timestamp()}, nx=True)
                pipe.execute()
    keep_sweeping(ctx)


def _follow(ctx: Context, member: str) -> tuple[str, datetime] | None:
    """Send the reminder `member` names; the member and time of the one after it.

    Postmortem deadline reminders and incident channels' archive checks share the set
    (and this sweep) with status updates.
    """
    if member.startswith(postmortem_deadlines.MEMBER_PREFIX):
        return postmortem_deadlines.remind(ctx, member)
    if member.startswith(incident_channels.MEMBER_PREFIX):
        return incident_channels.archive_due(ctx, member)
    following = _remind(ctx, Reminder.parse(member))
    return (following[0].member, following[1]) if following is not None else None


def remind(key: str, inc: str, seq: int) -> None:
    """Reminder `seq` as a job of its own, as older versions queued them; then the next
    one goes into the set like every other."""
    ctx = current()
    following = _remind(ctx, Reminder(key, inc, seq))
    if following is not None:
        reminder, at = following
        ctx.redis.zadd(ctx.store.reminders_key, {reminder.member: at.timestamp()}, nx=True)
        keep_sweeping(ctx)


def _remind(ctx: Context, reminder: Reminder) -> tuple[Reminder, datetime] | None:
    """Send `reminder` if the incident is live and it is not stale; the one after it."""
    key, inc, seq = reminder.key, reminder.inc, reminder.seq
    incident = ctx.store.get(key)
    every = update_every(ctx, incident)
    # a re-run (claim 2) finishes the sends of a sweep that died; they are idempotent
    if incident is None or every is None or not ctx.store.claim_reminder(key, inc, seq):
        return None
    now, timeline = ctx.clock(), ctx.store.timeline(key)
    form = template(incident, current_status(incident), timeline, now, every)
    text = f"Status update due ({incident.severity}: every {_minutes(every)})\n{form}"
    notified = ctx.store.notified(key)
    rows = rows_of(escalation.updates(ctx.policy, notified, "status_update_due", text))
    deliver(key, f"{inc}:reminder:{seq}", rows)
    return Reminder(key, inc, seq + 1), now + every


def opened(ctx: Context, incident: Incident) -> None:
    """A sweep for a new incident's first reminder (applying it put that in the set)."""
    every = update_every(ctx, incident)
    if every is not None:
        ensure_sweep(ctx, incident.opened_at + every)


def raised(ctx: Context) -> None:
    """A sweep for the earliest reminder: raising an incident may have added one."""
    keep_sweeping(ctx)


def keep_sweeping(ctx: Context) -> None:
    """A sweep for the earliest reminder, or at once when it is overdue.

    Called after each sweep and change that adds a reminder, and by each worker's
    refresher every few seconds: a chain of sweeps that broke (a sweep failed for good,
    its scheduled job was lost) starts again by itself instead of leaving every SEV1/SEV2
    without status updates until a new one opens.
    """
    sweeps.keep_sweeping(ctx, ctx.store.reminders_key, TAG, remind_due, ctx.reminder_sweeps)


def ensure_sweep(ctx: Context, at: datetime) -> None:
    """A sweep at the first grid point at or after `at` (once per point and process)."""
    sweeps.ensure_sweep(ctx, TAG, remind_due, ctx.reminder_sweeps, at)


def update_every(ctx: Context, incident: Incident | None) -> timedelta | None:
    """How often a live incident is due a status update (None: never, or not live)."""
    if incident is None or incident.status == "resolved":
        return None
    severity = ctx.policy.severities.get(incident.severity)
    return severity.update_every if severity else None


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)}m"
