"""Comparing what went out with what a drill expects: every one, and no other.

An expected notification matches a sent one with the same target and action whose time
is within GRID of the expected time. The workers run scheduled jobs on whole seconds and
status-update reminders on a 10 s sweep grid, so a notification may go out up to ~10 s
after its ideal time; 15 s leaves room and still tells a 5m step from a 4m one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alertgw.drill.recorder import Sent
from alertgw.drill.spec import Expected

GRID = timedelta(seconds=15)


@dataclass(frozen=True)
class Verdict:
    """Expected notifications that did not go out, sent ones nobody expected, and
    incidents whose state at the end is not the expected one."""

    missing: list[Expected] = field(default_factory=list)
    unexpected: list[Sent] = field(default_factory=list)
    state: list[str] = field(default_factory=list)  # incidents not as `incidents:` says

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected and not self.state


def judge(
    expected: tuple[Expected, ...], sent: list[Sent], start: datetime, ignore: frozenset[str]
) -> Verdict:
    """Match each expectation to the closest unmatched notification within GRID."""
    left = [s for s in sent if s.action not in ignore]
    missing = []
    for wanted in sorted(expected, key=lambda x: x.at):
        moment = start + wanted.at
        candidates = [
            s
            for s in left
            if s.target == wanted.target
            and s.action == wanted.action
            and abs(s.at - moment) <= GRID
        ]
        if not candidates:
            missing.append(wanted)
            continue
        left.remove(min(candidates, key=lambda s: (abs(s.at - moment), s.at)))
    return Verdict(missing, left)
