"""Scenario timelines: every tests/scenarios/*.yaml and rules/drills/*.yaml, played by the
drill engine (alertgw.drill) through the real gateway app and worker code on the test
Redis, on a virtual clock. Each asserts the EXACT set of notifications: a missing one and
an unexpected one both fail, and the failure prints the whole timeline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alertgw.drill import load_drill, run_drill
from alertgw.drill.report import text

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCENARIOS = sorted(HERE.glob("*.yaml"))
SHIPPED_DRILLS = sorted((REPO / "rules" / "drills").glob("*.yaml"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", SCENARIOS + SHIPPED_DRILLS, ids=_id)
def test_scenario(path: Path, redis_url: str, key_prefix: str) -> None:
    drill = load_drill(path)
    outcome = run_drill(drill, redis_url, key_prefix, drill.rules or REPO / "rules")
    assert outcome.verdict is not None, f"{path.name}: a scenario must have `expect`"
    assert outcome.verdict.passed, "\n" + text(outcome)


def test_there_are_at_least_thirty_scenarios() -> None:
    assert len(SCENARIOS) >= 30
