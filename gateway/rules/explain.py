"""What the rules decide for an alert, for people: `alertgw rules test` prints this.

`explain` gives one JSON-ready dict per classification (the default output is one JSON
line each); `format_text` renders the same dicts as aligned text for `--format text`.
"""

from __future__ import annotations

from typing import Any

from gateway.models import Alert
from gateway.rules.durations import format_duration
from gateway.rules.model import Policy

_FIELDS = ("rule", "severity", "incident", "escalation")


def explain(policy: Policy, alert: Alert) -> list[dict[str, Any]]:
    """Per classification: the alert's identity and labels, the matched rule, severity,
    incident key, escalation, and its timeline counted from the first page."""
    results = []
    for found in policy.classify(alert):
        plan = policy.escalations[found.escalation].plan(found.severity)
        timeline = []
        for step in plan:
            entry: dict[str, Any] = {
                "after": format_duration(step.after),
                "notify": list(step.notify),
            }
            if step.during is not None:
                entry["during"] = step.during
            timeline.append(entry)
        results.append(
            {
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
        )
    return results


def format_text(results: list[dict[str, Any]]) -> str:
    """`explain` output as aligned, human-readable text, one block per classification."""
    return "\n\n".join(_block(result) for result in results) + "\n" if results else ""


def _block(result: dict[str, Any]) -> str:
    lines = [f"{result['fingerprint']}  ({result['status']})  {result.get('title', '')}".rstrip()]
    lines += [f"  {name:<11} {result[name]}" for name in _FIELDS]
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
