"""A drill's outcome for people (text) and for tools (JSON)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from alertgw.drill.engine import Outcome
from alertgw.drill.recorder import Sent
from core.rules.durations import format_duration


def offset(start: datetime, moment: datetime) -> str:
    """`moment` as the drill writes times: an offset from its start (`1h5m`)."""
    return format_duration(moment - start)


def text(outcome: Outcome) -> str:
    """The timeline (notifications `->`, incident events `.`), then the verdict."""
    start = outcome.drill.start
    rows: list[tuple[datetime, int, str]] = []
    for sent in outcome.sent:
        rows.append((sent.at, 1, f"-> {sent.target} {sent.action}  {_why(sent)}"))
    for happening in outcome.history:
        rows.append(
            (happening.at, 0, f".  {happening.kind}: {happening.text}  [{happening.incident}]")
        )
    lines = [f"drill {outcome.drill.name} ({outcome.drill.path}), rules {outcome.rules}"]
    lines.append(f"start {start.isoformat()}, until +{format_duration(outcome.drill.until)}")
    for moment, _, row in sorted(rows, key=lambda r: (r[0], r[1])):
        lines.append(f"{offset(start, moment):>9}  {moment:%a %H:%M:%S}  {row}")
    return "\n".join([*lines, *_verdict(outcome)])


def _verdict(outcome: Outcome) -> list[str]:
    verdict, drill, start = outcome.verdict, outcome.drill, outcome.drill.start
    if verdict is None:
        return [f"{len(outcome.sent)} notifications; no `expect` to check"]
    states = f", {len(drill.incidents)} incidents as expected" if drill.incidents else ""
    if verdict.passed:
        return [f"PASS: all {len(drill.expect or ())} expected notifications, no other{states}"]
    lines = [
        f"MISSING {m.where}: at {format_duration(m.at)} {m.target} {m.action}"
        for m in verdict.missing
    ]
    lines += [
        f"UNEXPECTED at {offset(start, s.at)} {s.target} {s.action}  {_why(s)}"
        for s in verdict.unexpected
    ]
    lines += [f"STATE {problem}" for problem in verdict.state]
    counts = f"{len(verdict.missing)} missing, {len(verdict.unexpected)} unexpected"
    if drill.incidents:
        counts += f", {len(verdict.state)} incident state problems"
    return [*lines, f"FAIL: {counts}"]


def as_json(outcome: Outcome) -> str:
    """One line of JSON: notifications, history, and the verdict (null without expect)."""
    start = outcome.drill.start
    verdict: dict[str, Any] | None = None
    if outcome.verdict is not None:
        verdict = {
            "passed": outcome.verdict.passed,
            "missing": [
                {
                    "at": format_duration(m.at),
                    "target": m.target,
                    "action": m.action,
                    "where": m.where,
                }
                for m in outcome.verdict.missing
            ],
            "unexpected": [_sent(start, s) for s in outcome.verdict.unexpected],
            "state": outcome.verdict.state,
        }
    document = {
        "drill": str(outcome.drill.path),
        "rules": str(outcome.rules),
        "start": start.isoformat(),
        "notifications": [_sent(start, s) for s in outcome.sent],
        "history": [
            {"at": offset(start, h.at), "incident": h.incident, "kind": h.kind, "text": h.text}
            for h in outcome.history
        ],
        "verdict": verdict,
    }
    return json.dumps(document)


def _sent(start: datetime, sent: Sent) -> dict[str, Any]:
    return {
        "at": offset(start, sent.at),
        "seconds": int((sent.at - start) / timedelta(seconds=1)),
        "target": sent.target,
        "action": sent.action,
        "incident": sent.incident,
        "rule": sent.rule,
        "severity": sent.severity,
        "text": sent.text,
    }


def _why(sent: Sent) -> str:
    reason = f"{sent.severity} rule {sent.rule}"
    return f"({reason}: {sent.text})" if sent.text else f"({reason})"
