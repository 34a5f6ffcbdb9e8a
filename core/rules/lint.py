"""Warnings about a policy that loads but may not do what its author meant.

They do not stop a load: `alertgw rules check` prints them after the problems, and the
gateway logs them on every (re)load.
"""

from __future__ import annotations

from core.rules.merge import Merged

EMPTY_CREDENTIAL = "empty credential; this target is skipped in live delivery"


def policy_warnings(merged: Merged) -> list[str]:
    """Each warning as `file:line:col: key: message`, in file order."""
    return _empty_credentials(merged) + _unused(merged)


def _empty_credentials(merged: Merged) -> list[str]:
    found = []
    for placed in merged.targets.values():
        target = placed.value
        if target.pagerduty is not None and not target.pagerduty.routing_key:
            found.append(placed.problem(("pagerduty", "routing_key"), EMPTY_CREDENTIAL))
        if target.slack is not None:
            for key in ("channel", "webhook_url"):
                if getattr(target.slack, key) == "":
                    found.append(placed.problem(("slack", key), EMPTY_CREDENTIAL))
    return found


def _unused(merged: Merged) -> list[str]:
    steps = [step for p in merged.escalations.values() for step in p.value.steps]
    notified = {name for step in steps for name in step.notify}
    during = {step.during for step in steps}
    rules = [p.value for p in merged.rules] + ([merged.default.value] if merged.default else [])
    escalated = {rule.escalation for rule in rules}
    escalated |= {p.value.escalation for p in merged.heartbeats.values()}
    found = [
        p.problem((), "target is not notified by any escalation step", key=True)
        for name, p in merged.targets.items()
        if name not in notified
    ]
    found += [
        p.problem((), "escalation is not used by any rule", key=True)
        for name, p in merged.escalations.items()
        if name not in escalated
    ]
    found += [
        p.problem((), "time interval is not used by any step's `during`", key=True)
        for name, p in merged.time_intervals.items()
        if name not in during
    ]
    return found
