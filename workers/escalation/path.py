"""Which escalation step fires when, and who hears about it. Pure: no Redis, no clock.

Steps are indexed in the incident's current plan (`Escalation.plan(severity)`): step 0
fires when the incident opens, step i+1 fires the previous step's `wait` after step i
actually fired (so a step deferred by `during` also delays the ones after it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from core.incidents.record import Incident
from core.rules.model import PlannedStep, Policy
from workers.delivery.send import Delivery
from workers.notifiers.base import Action


def plan(policy: Policy, incident: Incident) -> list[PlannedStep]:
    """The incident's escalation path for its current severity ([] if the path is gone)."""
    escalation = policy.escalations.get(incident.escalation)
    return escalation.plan(incident.severity) if escalation else []


def delay_after(steps: list[PlannedStep], index: int) -> timedelta | None:
    """How long after step `index` fires the next one is due; None after the last."""
    if index + 1 >= len(steps):
        return None
    return steps[index + 1].after - steps[index].after


def reached(steps: list[PlannedStep], elapsed: timedelta) -> int:
    """The step an incident open for `elapsed` would have reached on this path."""
    return max((s.index for s in steps if s.after <= elapsed), default=0)


def first_round(policy: Policy, incident: Incident) -> list[PlannedStep]:
    """The incident's path without its `repeat` rounds."""
    escalation = policy.escalations.get(incident.escalation)
    if escalation is None:
        return []
    per_round = sum(1 for step in escalation.steps if step.applies_to(incident.severity))
    return escalation.plan(incident.severity)[:per_round]


def covered(steps: list[PlannedStep], notified: Iterable[str]) -> int:
    """The last step that, with every step before it, notifies only `notified` targets
    (-1 when step 1 has a target not told yet).

    This is where a raised incident stands on its new path: found by who was told,
    never by a step index of the old path. Pass the first round only (`first_round`):
    a `repeat` round pages its targets again.
    """
    told = set(notified)
    done = -1
    for step in steps:
        if not told.issuperset(step.notify):
            break
        done = step.index
    return done


def caught_up(
    steps: list[PlannedStep], index: int, notified: set[str], policy: Policy
) -> list[Delivery]:
    """What firing step `index` sends when the incident jumps to it after a raise.

    Every target of the steps up to `index` not told yet is paged (`trigger`), once;
    targets told already heard of the raise (`severity_raised`, a PagerDuty re-trigger)
    and are not paged again. Slack channels told already get an "escalated" reply.
    """
    fresh: list[str] = []
    for step in steps[: index + 1]:
        fresh += [name for name in step.notify if name not in notified and name not in fresh]
    if not fresh:
        return []
    text = f"Escalated to {', '.join(fresh)} (step {index + 1} of {len(steps)})"
    return [Delivery(name, "trigger", text) for name in fresh] + updates(
        policy, notified, "escalate", text
    )


def resumed(
    steps: list[PlannedStep], step: int, step_at: datetime | None
) -> tuple[int, datetime | None] | None:
    """Where an unacknowledged incident's escalation resumes: (step, due; None = now).

    The step after the last one fired, due that step's wait after it fired (in the past
    when the acknowledgement outlasted it); None when the path has no step left.
    """
    if step < 0 or step_at is None:
        return (0, None) if steps else None
    delay = delay_after(steps, step)
    return None if delay is None else (step + 1, step_at + delay)


def deferred_until(policy: Policy, step: PlannedStep, now: datetime) -> datetime | None:
    """When a `during` step due now must wait for its interval; None if it may fire now.

    An interval that never starts again defers forever: `datetime.max` (UTC) stands for it.
    """
    if step.during is None:
        return None
    interval = policy.time_intervals.get(step.during)
    if interval is None or interval.contains(now):
        return None
    start = interval.next_start(now)
    return start if start is not None else datetime.max.replace(tzinfo=now.tzinfo)


def step_deliveries(
    policy: Policy, step: PlannedStep, notified: set[str], total: int
) -> list[Delivery]:
    """What firing `step` sends: a page to each of its targets, a thread note elsewhere.

    A target hears `trigger` the first time and `escalate` after (a repeat of the path);
    Slack channels already told about the incident get an "escalated" reply in the thread.
    """
    text = f"Escalated to {', '.join(step.notify)} (step {step.index + 1} of {total})"
    deliveries = [
        Delivery(name, "escalate" if name in notified else "trigger", text) for name in step.notify
    ]
    if step.index > 0:
        deliveries += updates(policy, notified - set(step.notify), "escalate", text)
    return deliveries


def updates(policy: Policy, notified: Iterable[str], action: Action, text: str) -> list[Delivery]:
    """A thread update for every notified Slack target (PagerDuty takes no chatter)."""
    return [
        Delivery(name, action, text)
        for name in sorted(notified)
        if (target := policy.targets.get(name)) is not None and target.slack is not None
    ]


def raise_told(policy: Policy, incident: Incident, notified: Iterable[str]) -> list[Delivery]:
    """What a raise says to the targets told so far.

    Slack threads read "Severity raised to SEV1"; every PagerDuty target paged gets a
    trigger again (same dedup_key) with the new severity and summary. An acknowledged
    incident pages nobody: its thread says that it stays acknowledged.
    """
    text = f"Severity raised to {incident.severity}"
    if incident.status == "acknowledged":
        text += f" while acknowledged by {incident.lead or 'someone'}: nobody paged"
    told = updates(policy, notified, "severity_raised", text)
    if incident.status != "open":
        return told
    paged = [
        Delivery(name, "escalate", text)
        for name in sorted(notified)
        if (target := policy.targets.get(name)) is not None and target.pagerduty is not None
    ]
    return told + paged


def everyone(notified: Iterable[str], action: Action, text: str) -> list[Delivery]:
    """The same action to every target told about the incident (acknowledge, resolve)."""
    return [Delivery(name, action, text) for name in sorted(notified)]
