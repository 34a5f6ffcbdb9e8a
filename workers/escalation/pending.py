"""Hold-down (`pending_for`): an incident opens at once, its first step waits.

A rule with `pending_for: 2m` opens its incident (visible in the API, counted in the
metrics, timeline entry) when the alert fires, and schedules step 1 at open + 2m instead
of firing it. The scheduled step carries the incident's version like any other, so a
resolve (or an acknowledgement) before then leaves it stale: nobody was told, so the
resolve sends nothing, and the timeline says "resolved while pending".
"""

from __future__ import annotations

from datetime import timedelta

from core.incidents.record import Incident
from core.rules.durations import format_duration
from core.rules.model import Policy
from workers.context import Context
from workers.escalation import steps


def pending_for(policy: Policy, incident: Incident) -> timedelta | None:
    """How long the incident's rule holds its first step (None: not at all)."""
    rule = policy.rule_named(incident.rule)
    return rule.pending_for if rule is not None and rule.pending_for else None


def hold(ctx: Context, incident: Incident, version: int) -> bool:
    """Schedule step 1 for the end of the wait if nothing fired yet and the wait is not
    over; True when it did (the caller then fires nothing now)."""
    wait = pending_for(ctx.policy, incident)
    if wait is None or incident.step >= 0 or incident.status != "open":
        return False
    now, due = ctx.clock(), incident.opened_at + wait
    if now >= due:
        return False
    if steps.schedule_step(ctx, incident, version, 0, due):
        text = f"pending: step 1 at {due:%H:%M:%S %Z} unless resolved by then"
        ctx.store.note(
            incident.key, "pending", f"{text} (pending_for {format_duration(wait)})", now
        )
    return True


def resolved(ctx: Context, incident: Incident) -> None:
    """Say in the timeline that an incident resolved inside its wait sent nothing."""
    wait = pending_for(ctx.policy, incident)
    at = incident.resolved_at
    if wait is None or incident.step >= 0 or at is None or at >= incident.opened_at + wait:
        return
    ctx.store.note(
        incident.key, "resolved_while_pending", "resolved while pending: nothing was sent", at
    )
