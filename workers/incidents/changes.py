"""State changes: what each entry of the `changes` outbox makes the workers do.

Every transition writes its change to the outbox stream; the dispatcher (the intake)
hands each to `enqueue_change`, which runs a new incident's first step at once and
makes every other change an RQ `on_change` job with a deterministic id (a replayed
change is one job). `on_change` re-reads the incident and does nothing when it belongs
to another incarnation.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError

from core.incidents.record import Incident
from workers.context import Context, current
from workers.delivery.jobs import action as action_named
from workers.delivery.jobs import deliver, rows_of
from workers.delivery.scheduling import digest, schedule, severity_of
from workers.escalation import (
    incident_channels,
    muting,
    pending,
    posted_updates,
    postmortem_deadlines,
    reminders,
    steps,
)
from workers.escalation import path as escalation
from workers.incidents import autoresolve

log = logging.getLogger(__name__)

# A vendor that hangs until the HTTP timeout would hold the intake thread (every alert,
# SEV1s included) for that long per new incident: after one slow inline step, new
# incidents page through RQ jobs for a while, where only a worker thread waits.
INLINE_SLOW = timedelta(seconds=1)
INLINE_PAUSE = timedelta(minutes=1)


def enqueue_change(
    ctx: Context, key: str, inc: str, version: int, action: str, by: str, text: str
) -> bool:
    """Act on one entry of the changes stream (the dispatcher calls this).

    With `ctx.inline_opened` a new incident's first step runs here at once: an RQ job
    would cost it ~15 more Redis round trips and a queue hop. The entry is acknowledged
    only after this returns, so a worker dying meanwhile leaves it pending for another
    to claim and run again (idempotent, like a re-run job). Everything else, and an
    opened change that fails here for any reason but Redis, becomes an RQ job.
    """
    args: list[Any] = [key, inc, version, action, by, text]
    if action == "opened" and _inline(ctx):
        started = ctx.clock()
        try:
            on_change(*args)
            return True
        except RedisError:
            raise  # the intake waits for Redis; the entry stays pending
        except Exception:  # a bug here must not stop the intake: RQ retries the job
            log.exception("opening step failed inline; queued as a job", extra={"incident": key})
        finally:
            _pause_inline_if_slow(ctx, ctx.clock() - started)
    job_id = f"chg-{digest(key, inc)}-{version}-{action}"
    if action == "status_update":  # several at one version: each its own job
        job_id += f"-{digest(text)}"
    return schedule(ctx, None, on_change, args, job_id, ctx.queue_for(severity_of(ctx, key)))


def _inline(ctx: Context) -> bool:
    paused = ctx.inline_paused_until
    return ctx.inline_opened and (paused is None or ctx.clock() >= paused)


def _pause_inline_if_slow(ctx: Context, took: timedelta) -> None:
    if took > INLINE_SLOW:
        ctx.inline_paused_until = ctx.clock() + INLINE_PAUSE
        log.warning(
            "an opening step took %.1f s inline (a slow vendor?): new incidents page "
            "through jobs for the next %d s",
            took.total_seconds(),
            INLINE_PAUSE.total_seconds(),
        )


def on_change(key: str, inc: str, version: int, action: str, by: str, text: str) -> None:
    """React to one state change of an incident (the outbox entry written with it)."""
    ctx = current()
    if action == "opened":  # the common case: the incident and silences in one read
        incident, silences = muting.read(ctx, key)
        if incident is not None and incident.inc == inc:
            if not pending.hold(ctx, incident, version):
                steps.fire(ctx, incident, version, 0, silences)
            reminders.opened(ctx, incident)
            autoresolve.opened(ctx, incident)
            incident_channels.requested(ctx, incident, version)
        return
    incident = ctx.store.get(key)
    if incident is None or incident.inc != inc:
        return  # forgotten, or a later incarnation: nothing of this one is left to say
    tag = f"{inc}:{version}:{action}"
    notified = ctx.store.notified(key)
    if action == "severity_raised":
        deliver(key, tag, rows_of(escalation.raise_told(ctx.policy, incident, notified)))
        if not pending.hold(ctx, incident, version):
            steps.raised(ctx, incident, version)
        reminders.raised(ctx)
        incident_channels.requested(ctx, incident, version)
    elif action in ("acknowledge", "resolve"):
        verb = "Acknowledged" if action == "acknowledge" else "Resolved"
        line = f"{verb} by {by}" + (f": {text}" if text else "")
        deliver(key, tag, rows_of(escalation.everyone(notified, action_named(action), line)))
        after_the_page(ctx, incident, version, action)
        if action == "resolve":
            pending.resolved(ctx, incident)
    elif action == "auto_resolve":
        # a resolve to every target paged (PagerDuty closes what alertgw opened there)
        line = f"Auto-resolved: {text}"
        deliver(key, tag, rows_of(escalation.everyone(notified, "resolve", line)))
        pending.resolved(ctx, incident)
        after_the_page(ctx, incident, version, action)
    elif action == "unacknowledge":
        line = f"Unacknowledged by {by}: escalation resumes"
        deliver(key, tag, rows_of(escalation.updates(ctx.policy, notified, "note", line)))
        steps.resume(ctx, incident, version)
    elif action == "status_update":
        posted_updates.posted(ctx, incident, text)
    elif action == "note":
        line = f"{by}: {text}"
        deliver(key, tag, rows_of(escalation.updates(ctx.policy, notified, "note", line)))


def after_the_page(ctx: Context, incident: Incident, version: int, action: str) -> None:
    """Acknowledged: the acknowledger joins the incident channel. Resolved (auto-resolved
    too): the
    postmortem begins and the channel's archive is queued (workers.escalation.postmortem_deadlines,
    workers.escalation.incident_channels)."""
    if action == "acknowledge":
        incident_channels.requested(ctx, incident, version)
        return
    began = postmortem_deadlines.resolved(ctx, incident)
    incident_channels.resolved(ctx, incident)
    if began or ctx.policy.incident_channel is not None:
        reminders.keep_sweeping(ctx)
