"""What the rules decide for an alert, for people: `alertgw rules test` prints this.

`explain` gives one JSON-ready dict per classification (the default output is one JSON
line each); `format_text` renders the same dicts as aligned text for `--format text`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.models import Alert
from core.rules.durations import format_duration
from core.rules.model import HEARTBEAT_RULE, Policy

_FIELDS = ("rule", "severity", "incident", "escalation")


def explain(policy: Policy, alert: Alert) -> list[dict[str, Any]]:
    """Per classification: the alert's identity and labels, the matched rule, severity,
    incident key, escalation, and its timeline counted from the alert (a rule's
    `pending_for` delays every step, and is shown as `pending_for`)."""
    results = []
    for found in policy.classify(alert):
        plan = policy.escalations[found.escalation].plan(found.severity)
        beat_of = None
        if found.rule.startswith(HEARTBEAT_RULE):  # a beat pages nobody; a miss would
            heartbeat = policy.heartbeats[found.rule.removeprefix(HEARTBEAT_RULE)]
            beat_of = {"name": heartbeat.name, "missed_after": format_duration(heartbeat.allowance)}
            plan = []
        rule = policy.rule_named(found.rule)
        held = rule.pending_for if rule is not None and rule.pending_for else timedelta(0)
        timeline = []
        for step in plan:
            entry: dict[str, Any] = {
                "after": format_duration(held + step.after),
                "notify": list(step.notify),
            }
            if step.during is not None:
                entry["during"] = step.during
            timeline.append(entry)
        result: dict[str, Any] = {
            "fingerprint": alert.fingerprint,
            "source": alert.source,
            "status": alert.status,
            "title": alert.title,
            "labels": dict(sorted(alert.labels.items())),
            "rule": found.rule,
            "severity": found.severity,
            "incident": found.incident_key,
            "escalation": found.escalation,
            "timeline": timeline,
        }
        if beat_of is not None:
            result["heartbeat"] = beat_of
        if held:
            result["pending_for"] = format_duration(held)
        if folding := _storms(policy, found.severity, plan[0].notify if plan else ()):
            result["storm"] = folding
        results.append(result)
    return results


def _storms(policy: Policy, severity: str, first: tuple[str, ...]) -> dict[str, str]:
    """What storm folding would do with step 1's page to each target
    (workers/escalation/storms.py)."""
    found = {}
    for target in first:
        storm = policy.storms.get(target)
        if storm is None:
            continue
        if severity == "SEV1":
            found[target] = "never folded (SEV1)"
        else:
            found[target] = (
                f"folded into storm:{target} past {storm.threshold} new-incident pages "
                f"within {format_duration(storm.window)} (ends after "
                f"{format_duration(storm.cooldown)} at most that)"
            )
    return found


def format_text(results: list[dict[str, Any]]) -> str:
    """`explain` output as aligned, human-readable text, one block per classification."""
    return "\n\n".join(_block(result) for result in results) + "\n" if results else ""


def _block(result: dict[str, Any]) -> str:
    lines = [f"{result['fingerprint']}  ({result['status']})  {result.get('title', '')}".rstrip()]
    lines += [f"  {name:<11} {result[name]}" for name in _FIELDS]
    if held := result.get("pending_for"):
        lines.append(f"  {'pending':<11} {held}: step 1 waits; a resolve before then sends nothing")
    if beat := result.get("heartbeat"):
        lines.append(
            f"  {'heartbeat':<11} a beat of {beat['name']}: pages nobody; "
            f"{beat['missed_after']} without one opens {result['incident']}"
        )
    for index, (target, what) in enumerate(result.get("storm", {}).items()):
        lines.append(f"  {'storm' if index == 0 else '':<11} {target}: {what}")
    labels = result["labels"]
    width = max((len(name) for name in labels), default=0)
    for index, (name, value) in enumerate(labels.items()):
        heading = "labels" if index == 0 else ""
        lines.append(f"  {heading:<11} {name:<{width}} = {value}")
    after_width = max((len(step["after"]) for step in result["timeline"]), default=0)
    for index, step in enumerate(result["timeline"]):
        heading = "timeline" if index == 0 else ""
        during = f"  (during {step['during']})" if "during" in step else ""
        notify = ", ".join(step["notify"])
        lines.append(f"  {heading:<11} +{step['after']:<{after_width}}  {notify}{during}")
    return "\n".join(lines)
