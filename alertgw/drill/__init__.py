"""Drills: incident timelines played through the real gateway and workers on a virtual clock.

A drill file (docs/drills.md) says what happens when (alerts posted, acknowledgements,
silences) and which notifications must go out. The engine here runs it in one process
against a real Redis and records every notification instead of sending it; the test
suite (tests/scenarios/) and `alertgw drill` both use it.
"""

from __future__ import annotations

from alertgw.drill.engine import Outcome, run_drill
from alertgw.drill.spec import Drill, DrillFileError, load_drill
from alertgw.drill.verdict import GRID, Verdict
from alertgw.drill.world import DrillRunError

__all__ = [
    "GRID",
    "Drill",
    "DrillFileError",
    "DrillRunError",
    "Outcome",
    "Verdict",
    "load_drill",
    "run_drill",
]
