"""Escalation steps: fire one now, schedule the next, defer, resume, follow a raise.

A scheduled step re-reads the incident and does nothing when it is stale (another
incarnation, the version moved on, acknowledged, resolved, already past that step);
claiming a step is one Lua script (`IncidentStore.claim_step`), so two workers never
both fire it. Which step is due when, and who hears of it, is `workers.escalation.path`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from core import metrics
from core.incidents.record import Incident
from core.silences import Silence
from workers.context import Context, current
from workers.delivery.jobs import deliver, rows_of
from workers.delivery.scheduling import digest, schedule
from workers.escalation import flapping, muting, storms
from workers.escalation import path as escalation


def run_step(key: str, inc: str, version: int, index: int) -> None:
    """A scheduled escalation step; does nothing when stale."""
    ctx = current()
    incident, silences = muting.read(ctx, key)
    if incident is None or incident.inc != inc or incident.version != version:
        return
    # step == index: a re-run of a job that died mid-delivery finishes its sends
    if incident.status == "open" and incident.step <= index:
        fire(ctx, incident, version, index, silences)


def fire(
    ctx: Context,
    incident: Incident,
    version: int,
    index: int,
    silences: Iterable[Silence] | None = None,
    unfolded: str | None = None,
) -> None:
    """Fire step `index` unless muted, deferred or claimed already; schedule the next.

    `silences`: the stored silences, if the caller read them with the incident. Step 1
    of a SEV2-SEV4 incident is not sent to a target in an alert storm (`storms`); when
    every target of it is, the step waits for the storms to end. `unfolded`: the target
    whose storm just ended (it is paged now, not counted again).
    """
    policy, store, now = ctx.policy, ctx.store, ctx.clock()
    steps = escalation.plan(policy, incident)
    if index >= len(steps):
        return
    if flapping.holds(ctx, incident):
        return  # it pages again only once it settles (flapping.settle_flap resumes it)
    mute = muting.muted(ctx, incident, now, silences)
    if mute is not None:
        # a silence or an inhibiting incident: nobody hears of it now; look again later
        muting.record(ctx, incident, mute, now)
        schedule_step(ctx, incident, version, index, mute.recheck_at(now))
        return
    step = steps[index]
    until = escalation.deferred_until(policy, step, now)
    if until is not None:
        _defer(ctx, incident, version, index, until)
        return
    jump = _after_raise(incident)
    folded: frozenset[str] = frozenset()
    if index == 0 and not jump:
        folded = storms.fold(ctx, incident, step.notify, unfolded).folded
        if folded.issuperset(step.notify):
            return  # folded for every target: `unfold` fires it when a storm ends
    text = f"step {index + 1} of {len(steps)}: {', '.join(step.notify)}"
    if jump:
        text = f"step {index + 1} of {len(steps)} after the raise: whoever it has not paged yet"
    claim, fired_at, notified = store.claim_step(incident, version, index, text, now)
    if not claim or fired_at is None:
        return
    if claim == 1:
        metrics.escalation_steps.labels(incident.escalation, str(index + 1)).inc()
    if jump:
        deliveries = escalation.caught_up(steps, index, set(notified), policy)
    else:
        deliveries = escalation.step_deliveries(policy, step, set(notified), len(steps))
        deliveries = [d for d in deliveries if d.target not in folded]
    # the version is in the tag: after a raise, step i of the new path is not step i of
    # the old one, and must not find the old one's sends as its own
    tag = f"{incident.inc}:{version}:step:{index}"
    deliver(incident.key, tag, rows_of(deliveries), incident=incident)
    delay = escalation.delay_after(steps, index)
    if delay is not None:
        # from when the step first fired: a re-run schedules the very same job
        schedule_step(ctx, incident, version, index + 1, fired_at + delay)


def unfold(ctx: Context, incident: Incident, target: str) -> None:
    """The storm of `target` ended and this open incident was folded for it: it
    escalates on its own from now (step 1, or only the page `target` did not get when
    step 1 went to its other targets)."""
    if incident.step < 0:
        fire(ctx, incident, incident.version, 0, unfolded=target)
        return
    text = f"Storm storm:{target} over: paged on its own"
    rows = [[target, "trigger", text]]
    deliver(incident.key, f"{incident.inc}:unfold:{target}", rows, incident=incident)


def _defer(ctx: Context, incident: Incident, version: int, index: int, until: datetime) -> None:
    if not schedule_step(ctx, incident, version, index, until):
        return  # this deferral was already announced
    step = escalation.plan(ctx.policy, incident)[index]
    text = f"Page to {', '.join(step.notify)} deferred until {until:%Y-%m-%d %H:%M %Z}"
    text += f" (outside {step.during})"
    ctx.store.note(incident.key, "deferred", text, ctx.clock())
    notified = ctx.store.notified(incident.key)
    rows = rows_of(escalation.updates(ctx.policy, notified, "note", text))
    deliver(incident.key, f"{incident.inc}:defer:{index}:{until.timestamp()}", rows)


def raised(ctx: Context, incident: Incident, version: int) -> None:
    """Escalate on the new severity's path as if it had been that severity from the start.

    Every target of the new path's steps up to the one it would have reached by now that
    was not paged yet is paged at once (one step, `fire` in its after-raise form); the
    targets paged already heard of the raise from `workers.incidents.changes`. Where the new path
    stands is found by who was told (`escalation.covered`): when that is as far as the
    time reached, nobody is paged now and the next step is due when the new path has it
    (counted from when the incident opened). Steps after a catching-up step follow their
    waits from it. A `during` step outside its interval stops the catching up there.
    """
    if incident.status != "open":
        return
    policy, now = ctx.policy, ctx.clock()
    steps = escalation.plan(policy, incident)
    notified = ctx.store.notified(incident.key)
    done = escalation.covered(escalation.first_round(policy, incident), notified)
    target = escalation.reached(steps, now - incident.opened_at)
    for i in range(done + 1, target + 1):
        if escalation.deferred_until(policy, steps[i], now) is not None:
            # page the steps before it now; the deferred one waits for its interval
            target = i - 1 if i - 1 > done else i
            break
    if target > done:
        fire(ctx, incident, version, target)
    elif done + 1 < len(steps):
        # not due yet (else `target` would be past `done`): when the new path has it
        schedule_step(ctx, incident, version, done + 1, incident.opened_at + steps[done + 1].after)


def resume(ctx: Context, incident: Incident, version: int) -> None:
    """After an unacknowledgement: the next step, when it would have come due, or now."""
    steps = escalation.plan(ctx.policy, incident)
    position = incident.step
    if _after_raise(incident):  # raised while acknowledged: placed by who was told
        notified = ctx.store.notified(incident.key)
        position = escalation.covered(escalation.first_round(ctx.policy, incident), notified)
    resumed = escalation.resumed(steps, position, incident.step_at)
    if incident.status != "open" or resumed is None:
        return
    index, due = resumed
    if due is None or due <= ctx.clock():
        fire(ctx, incident, version, index)
    else:
        schedule_step(ctx, incident, version, index, due)


def _after_raise(incident: Incident) -> bool:
    # a raise sets `step` to -1 (no step of the new path fired yet) and keeps `step_at`,
    # when the old path last paged: an incident opened afresh has no `step_at` yet
    return incident.step < 0 and incident.step_at is not None


def schedule_step(ctx: Context, incident: Incident, version: int, index: int, at: datetime) -> bool:
    """A `run_step` job for step `index` at `at`; False when that very job exists."""
    job_id = f"step-{digest(incident.key, incident.inc)}-{version}-{index}-{int(at.timestamp())}"
    args = [incident.key, incident.inc, version, index]
    return schedule(ctx, at, run_step, args, job_id, ctx.queue_for(incident.severity))
