"""RQ jobs: one per incident state change, escalation step or reminder, plus retries.

Job ids are deterministic and enqueued with `unique=True`, so the dispatcher replaying a
change, or two workers scheduling the same step, make one job. Each job re-reads the
incident and does nothing when it is stale (other incarnation, version moved on,
acknowledged, resolved). Delivery failures are retried by scheduling a `deliver` job
with jittered exponential backoff that honours the vendor's Retry-After; RQ's own Retry
is kept only for jobs that die mid-run (a killed worker), which RQ re-runs once it
notices (see workers.runner for how soon).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from alertgw import metrics
from workers import escalation, muting
from workers.context import Context, current
from workers.delivery import send_all
from workers.escalation import Delivery
from workers.incident_record import Incident
from workers.notifiers.base import Action, PermanentError, RetryableError

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS = 20  # a vendor call times out well before this
ABANDONED_RETRIES = 3  # re-runs of a job whose worker died mid-run
RESULT_TTL_SECONDS = 10
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def schedule(
    ctx: Context,
    at: datetime | None,
    func: Callable[..., None],
    args: list[Any],
    job_id: str,
    queue: Queue | None = None,
) -> bool:
    """Enqueue `func(*args)` now (`at` None) or at `at`; False if that job id exists.

    On `ctx.queue` unless another `queue` is given (urgent jobs, chat deliveries)."""
    if at is not None and at.microsecond:
        # RQ's scheduler keeps whole seconds (truncated): round up, never run early,
        # or a retry could come before the vendor's Retry-After
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    options: dict[str, Any] = {
        "job_id": job_id,
        "unique": True,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "retry": Retry(max=ABANDONED_RETRIES),
        # nothing reads results: keep finished jobs seconds, not RQ's 500 s (memory). Not
        # 0: RQ 3.0 then deletes the job and, for one re-run after its worker died, fails
        # on the dead execution's expired record and runs it again (test_faults_workers)
        "result_ttl": RESULT_TTL_SECONDS,
    }
    target = ctx.queue if queue is None else queue
    try:
        if at is None:
            target.enqueue(func, *args, **options)
        else:
            target.enqueue_at(at, func, *args, **options)
    except DuplicateJobError:
        return False
    return True


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
    job_id = f"chg-{_digest(key, inc)}-{version}-{action}"
    return schedule(ctx, None, on_change, args, job_id, ctx.queue_for(_severity(ctx, key)))


# A vendor that hangs until the HTTP timeout would hold the intake thread (every alert,
# SEV1s included) for that long per new incident: after one slow inline step, new
# incidents page through RQ jobs for a while, where only a worker thread waits.
INLINE_SLOW = timedelta(seconds=1)
INLINE_PAUSE = timedelta(minutes=1)


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


# jobs ---------------------------------------------------------------------------------
def on_change(key: str, inc: str, version: int, action: str, by: str, text: str) -> None:
    """React to one state change of an incident (the outbox entry written with it)."""
    ctx = current()
    incident = ctx.store.get(key)
    if incident is None or incident.inc != inc:
        return  # forgotten, or a later incarnation: nothing of this one is left to say
    tag = f"{inc}:{version}:{action}"
    if action == "opened":  # the common case, and it needs no more reads
        _fire_step(ctx, incident, version, 0)
        _schedule_reminder(ctx, incident, incident.reminder + 1)
        return
    notified = ctx.store.notified(key)
    if action == "severity_raised":
        text = f"Severity raised to {incident.severity}"
        rows = _rows(escalation.updates(ctx.policy, notified, "severity_raised", text))
        deliver(key, tag, rows)
        _raised(ctx, incident, version)
    elif action in ("acknowledge", "resolve"):
        verb = "Acknowledged" if action == "acknowledge" else "Resolved"
        line = f"{verb} by {by}" + (f": {text}" if text else "")
        deliver(key, tag, _rows(escalation.everyone(notified, _action(action), line)))
    elif action == "unacknowledge":
        line = f"Unacknowledged by {by}: escalation resumes"
        deliver(key, tag, _rows(escalation.updates(ctx.policy, notified, "note", line)))
        _resume(ctx, incident, version)
    elif action == "note":
        line = f"{by}: {text}"
        deliver(key, tag, _rows(escalation.updates(ctx.policy, notified, "note", line)))


def run_step(key: str, inc: str, version: int, index: int) -> None:
    """A scheduled escalation step; does nothing when stale."""
    ctx = current()
    incident = ctx.store.get(key)
    if incident is None or incident.inc != inc or incident.version != version:
        return
    # step == index: a re-run of a job that died mid-delivery finishes its sends
    if incident.status == "open" and incident.step <= index:
        _fire_step(ctx, incident, version, index)


def remind(key: str, inc: str, seq: int) -> None:
    """Status-update reminder `seq` for a live SEV1/SEV2 incident, then the next one."""
    ctx = current()
    incident = ctx.store.get(key)
    every = _update_every(ctx, incident)
    # a re-run (claim 2) finishes the sends of a job that died; they are idempotent
    if incident is None or every is None or not ctx.store.claim_reminder(key, inc, seq):
        return
    text = f"Status update due ({incident.severity}: every {_minutes(every)})"
    rows = _rows(escalation.updates(ctx.policy, ctx.store.notified(key), "status_update_due", text))
    deliver(key, f"{inc}:reminder:{seq}", rows)
    _schedule_reminder(ctx, incident, seq + 1)


def deliver(
    key: str, tag: str, rows: list[list[str]], attempt: int = 0, incident: Incident | None = None
) -> None:
    """Send deliveries (rows of [target, action, text]); retry or dead-letter failures.

    With `ctx.split_queues` the chat rows become a `deliver_chat` job on the chat
    queue and only the pages are sent here: a slow Slack never holds a page. A caller
    that has just read the incident passes it (one read less per page).
    """
    ctx = current()
    if ctx.split_queues:
        chat = [row for row in rows if _is_chat(ctx, row[0])]
        if chat:
            rows = [row for row in rows if row not in chat]
            job_id = f"chat-{_digest(key, tag, repr(chat))}-{attempt}"
            schedule(ctx, None, deliver_chat, [key, tag, chat, attempt], job_id, ctx.chat_queue)
    _send(ctx, key, tag, rows, attempt, deliver, incident)


def deliver_chat(key: str, tag: str, rows: list[list[str]], attempt: int = 0) -> None:
    """`deliver` for chat rows, on the chat queue; its retries stay there."""
    ctx = current()
    _send(ctx, key, tag, rows, attempt, deliver_chat)


def _send(
    ctx: Context,
    key: str,
    tag: str,
    rows: list[list[str]],
    attempt: int,
    again_with: Callable[..., None],
    incident: Incident | None = None,
) -> None:
    if not rows:
        return
    func = again_with.__name__
    deliveries = [Delivery(target, _action(action), text) for target, action, text in rows]
    failed = send_all(ctx, key, tag, deliveries, incident)
    retry: list[tuple[Delivery, RetryableError]] = []
    for delivery, error in failed:
        if isinstance(error, RetryableError) and attempt + 1 < ctx.max_attempts:
            retry.append((delivery, error))
        else:
            why = "permanent" if isinstance(error, PermanentError) else "out of retries"
            args = [key, tag, _rows([delivery]), 0]
            error_text = f"{why}: {error}"
            ctx.dead_letters.add(key, func, args, error_text, attempt + 1, ctx.clock())
            metrics.dead_letters.set(ctx.dead_letters.count())
    if retry:
        delay = backoff(ctx, attempt, max(e.retry_after or 0.0 for _, e in retry))
        again = _rows([d for d, _ in retry])
        job_id = f"dlv-{_digest(key, tag, repr(again))}-{attempt + 1}"
        at = ctx.clock() + delay
        chat = again_with is deliver_chat
        queue = ctx.chat_queue if chat else ctx.queue_for(_severity(ctx, key))
        schedule(ctx, at, again_with, [key, tag, again, attempt + 1], job_id, queue)


def _severity(ctx: Context, key: str) -> str | None:
    # one HGET: the changes stream and retries carry the incident key, not its severity
    if not ctx.split_queues:
        return None
    severity = ctx.redis.hget(ctx.store.key_of(key), "severity")
    return severity.decode() if isinstance(severity, bytes) else None


def _is_chat(ctx: Context, name: str) -> bool:
    target = ctx.policy.targets.get(name)
    return target is not None and target.slack is not None


def replay(ctx: Context, func: str, args: list[Any], letter_id: str) -> None:
    """Run a dead-lettered job again (from the start of its retries)."""
    known: dict[str, Callable[..., None]] = {
        "deliver": deliver,
        "deliver_chat": deliver,  # routes its chat rows to the chat queue again
        "on_change": on_change,
        "run_step": run_step,
        "remind": remind,
    }
    if func not in known:
        raise ValueError(f"dead letter {letter_id} names an unknown job {func!r}")
    if func in ("deliver", "deliver_chat"):
        args = [*args[:3], 0]
    schedule(ctx, None, known[func], args, f"replay-{letter_id}")


def backoff(ctx: Context, attempt: int, retry_after: float) -> timedelta:
    """Exponential backoff with full jitter, never sooner than the vendor's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    # RQ's scheduler keeps whole seconds and `schedule` rounds up, so a fractional jitter
    # put every first retry on the same second (found by tests/test_faults_vendors.py):
    # draw whole seconds from the upper half instead
    jittered = ctx.rng.randint(math.ceil(ceiling / 2), math.floor(ceiling))
    return timedelta(seconds=max(retry_after, jittered))


# escalation -----------------------------------------------------------------------------
def _fire_step(ctx: Context, incident: Incident, version: int, index: int) -> None:
    policy, store, now = ctx.policy, ctx.store, ctx.clock()
    steps = escalation.plan(policy, incident)
    if index >= len(steps):
        return
    mute = muting.muted(ctx, incident, now)
    if mute is not None:
        # a silence or an inhibiting incident: nobody hears of it now; look again later
        muting.record(ctx, incident, mute, now)
        _schedule_step(ctx, incident, version, index, mute.recheck_at(now))
        return
    step = steps[index]
    until = escalation.deferred_until(policy, step, now)
    if until is not None:
        _defer(ctx, incident, version, index, until)
        return
    text = f"step {index + 1} of {len(steps)}: {', '.join(step.notify)}"
    claim, fired_at = store.claim_step(incident, version, index, text, now)
    if not claim or fired_at is None:
        return
    if claim == 1:
        metrics.escalation_steps.labels(incident.escalation, str(index + 1)).inc()
    notified = store.notified(incident.key)
    rows = _rows(escalation.step_deliveries(policy, step, notified, len(steps)))
    deliver(incident.key, f"{incident.inc}:step:{index}", rows, incident=incident)
    delay = escalation.delay_after(steps, index)
    if delay is not None:
        # from when the step first fired: a re-run schedules the very same job
        _schedule_step(ctx, incident, version, index + 1, fired_at + delay)


def _defer(ctx: Context, incident: Incident, version: int, index: int, until: datetime) -> None:
    if not _schedule_step(ctx, incident, version, index, until):
        return  # this deferral was already announced
    step = escalation.plan(ctx.policy, incident)[index]
    text = f"Page to {', '.join(step.notify)} deferred until {until:%Y-%m-%d %H:%M %Z}"
    text += f" (outside {step.during})"
    ctx.store.note(incident.key, "deferred", text, ctx.clock())
    notified = ctx.store.notified(incident.key)
    rows = _rows(escalation.updates(ctx.policy, notified, "note", text))
    deliver(incident.key, f"{incident.inc}:defer:{index}:{until.timestamp()}", rows)


def _raised(ctx: Context, incident: Incident, version: int) -> None:
    """Escalate on the new severity's path from the step it would have reached by now."""
    if incident.status != "open":
        return
    now = ctx.clock()
    steps = escalation.plan(ctx.policy, incident)
    target = escalation.reached(steps, now - incident.opened_at)
    if target > incident.step:
        _fire_step(ctx, incident, version, target)
    elif incident.step + 1 < len(steps):
        due = incident.opened_at + steps[incident.step + 1].after
        _schedule_step(ctx, incident, version, incident.step + 1, max(due, now))
    _schedule_reminder(ctx, incident, incident.reminder + 1)


def _resume(ctx: Context, incident: Incident, version: int) -> None:
    """After an unacknowledgement: the next step, when it would have come due, or now."""
    steps = escalation.plan(ctx.policy, incident)
    resumed = escalation.resumed(steps, incident.step, incident.step_at)
    if incident.status != "open" or resumed is None:
        return
    index, due = resumed
    if due is None or due <= ctx.clock():
        _fire_step(ctx, incident, version, index)
    else:
        _schedule_step(ctx, incident, version, index, due)


def _schedule_step(
    ctx: Context, incident: Incident, version: int, index: int, at: datetime
) -> bool:
    job_id = f"step-{_digest(incident.key, incident.inc)}-{version}-{index}-{int(at.timestamp())}"
    args = [incident.key, incident.inc, version, index]
    return schedule(ctx, at, run_step, args, job_id, ctx.queue_for(incident.severity))


def _schedule_reminder(ctx: Context, incident: Incident, seq: int) -> None:
    every = _update_every(ctx, incident)
    if every is not None:
        job_id = f"rem-{_digest(incident.key, incident.inc)}-{seq}"
        at = ctx.clock() + every
        args = [incident.key, incident.inc, seq]
        schedule(ctx, at, remind, args, job_id, ctx.queue_for(incident.severity))


def _update_every(ctx: Context, incident: Incident | None) -> timedelta | None:
    if incident is None or incident.status == "resolved":
        return None
    severity = ctx.policy.severities.get(incident.severity)
    return severity.update_every if severity else None


def _rows(deliveries: list[Delivery]) -> list[list[str]]:
    # plain lists: job arguments must survive serialization and `dead-letters replay`
    return [[d.target, d.action, d.text] for d in deliveries]


def _action(name: str) -> Action:
    actions: tuple[Action, ...] = (
        "trigger",
        "escalate",
        "acknowledge",
        "resolve",
        "severity_raised",
        "status_update_due",
        "note",
    )
    if name not in actions:
        raise ValueError(f"unknown notification action {name!r}")
    return actions[actions.index(name)]


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)}m"
