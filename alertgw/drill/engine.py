"""Running a drill: play its events on the virtual clock, record, judge.

Between two events the world runs every job due, each at its own virtual time; after the
last event it runs on to the drill's `until`. Events at the same offset are all posted
before the workers run: a race between channels. What the notifiers were handed is the
drill's outcome, with the incidents' timelines for the why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from alertgw.drill.events import Player
from alertgw.drill.recorder import Sent
from alertgw.drill.spec import Drill
from alertgw.drill.state import check
from alertgw.drill.verdict import Verdict, judge
from alertgw.drill.world import World, world

# Timeline kinds left out of the drill's history: the notifications themselves (listed
# from the recorder, with more detail) and what the gateway writes for every alert.
QUIET_KINDS = frozenset({"dry_run"})


@dataclass(frozen=True)
class Happening:
    """A line of an incident's own timeline (opened, silenced, deferred, acknowledged...)."""

    at: datetime
    incident: str
    kind: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """What a drill did: notifications, incident history, and the verdict if it expects."""

    drill: Drill
    rules: Path
    sent: list[Sent]
    history: list[Happening]
    verdict: Verdict | None


def run_drill(drill: Drill, redis_url: str, prefix: str, rules: Path) -> Outcome:
    """Play `drill` against `rules` on the Redis at `redis_url`, under key `prefix`.

    Raises RulesError (rules do not load) or DrillRunError (the gateway refused an event).
    The caller owns the prefix: the world deletes RQ's keys, the caller the rest.
    """
    with world(redis_url, prefix, rules, drill.start) as running:
        player = Player(running, drill)
        history: dict[tuple[str, datetime, str, str], Happening] = {}
        at = None
        for event in drill.events:
            # events at the same offset all reach the gateway before the workers act on
            # any of them: that is how a drill races two channels
            if event.at != at:
                running.advance(drill.start + event.at)
                at = event.at
            player.play(event)
            _read_history(running, player.keys, history)
        running.advance(drill.start + drill.until)
        _read_history(running, player.keys, history)
        sent = list(running.recorder.sent)
        found = [i for key in player.keys if (i := running.ctx.store.get(key)) is not None]
    state = [problem for expected in drill.incidents for problem in check(expected, found)]
    verdict = None
    if drill.expect is not None or drill.incidents:
        verdict = judge(drill.expect or (), sent, drill.start, drill.ignore)
        verdict = replace(verdict, state=state)
    ordered = sorted(history.values(), key=lambda h: (h.at, h.incident))
    return Outcome(drill, rules, sent, ordered, verdict)


def _read_history(
    running: World, keys: list[str], into: dict[tuple[str, datetime, str, str], Happening]
) -> None:
    # incidents alertgw opened itself (a storm incident, workers/escalation/storms.py) are
    # the drill's too: the world's prefix holds nothing else
    for incident in running.ctx.store.list(now=running.clock()):
        if incident.key not in keys:
            keys.append(incident.key)
    # read after every event: an incident forgotten later takes its timeline with it
    for key in keys:
        for entry in running.ctx.store.timeline(key):
            if entry.kind not in QUIET_KINDS:
                into.setdefault(
                    (key, entry.at, entry.kind, entry.text),
                    Happening(entry.at, key, entry.kind, entry.text),
                )
