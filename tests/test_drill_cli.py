"""`alertgw drill`: the timeline on stdout; exit 0, 1 (not as expected) or 2 (invalid)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alertgw.cli import main

REPO = Path(__file__).resolve().parent.parent
PASSING = """
rules: {rules}
until: 10m
ignore: [status_update_due]
events:
  - at: 0s
    post:
      source: alertmanager
      alerts:
        - labels: {{alertname: Down, service: checkout, severity: critical, env: production}}
expect:
  - {{at: 0s, target: oncall, action: trigger}}
  - {{at: 0s, target: incidents, action: trigger}}
  - {{at: 5m, target: eng-lead, action: trigger}}
  - {{at: 5m, target: incidents, action: escalate}}
"""
# the lead's step is at 5m, not 4m; and the CTO is not expected at all
FAILING = PASSING.replace("at: 5m, target: eng-lead", "at: 4m, target: eng-lead").replace(
    "until: 10m", "until: 25m"
)


@pytest.fixture
def drills(tmp_path: Path) -> tuple[Path, Path]:
    passing, failing = tmp_path / "passing.yaml", tmp_path / "failing.yaml"
    passing.write_text(PASSING.format(rules=REPO / "rules"))
    failing.write_text(FAILING.format(rules=REPO / "rules"))
    return passing, failing


def test_drills_print_timelines_and_exit_1_when_one_is_not_met(
    drills: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    passing, failing = drills
    assert main(["drill", str(passing), str(failing)]) == 1
    out = capsys.readouterr().out
    first, second = out.split("drill failing")
    assert "PASS: all 4 expected notifications, no other" in first
    why = "(SEV1 rule checkout-or-payments-down: Escalated to eng-lead (step 2 of 4))"
    assert f"-> eng-lead trigger  {why}" in first
    assert f"MISSING {failing}:14:5: at 4m eng-lead trigger" in second
    assert "UNEXPECTED at 5m eng-lead trigger" in second
    assert "UNEXPECTED at 20m cto trigger" in second
    assert "FAIL: 1 missing, 3 unexpected" in second


def test_json_is_one_line_per_drill(
    drills: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    passing, _ = drills
    assert main(["drill", "--format", "json", str(passing)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    outcome = json.loads(line)
    assert outcome["verdict"] == {"passed": True, "missing": [], "unexpected": [], "state": []}
    pages = [(n["at"], n["target"], n["action"]) for n in outcome["notifications"]]
    assert pages == [
        ("0s", "oncall", "trigger"),
        ("0s", "incidents", "trigger"),
        ("5m", "eng-lead", "trigger"),
        ("5m", "incidents", "escalate"),
    ]


def test_an_invalid_drill_exits_2_with_file_line_col(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("events:\n  - at: soon\n    ack: {}\n")
    assert main(["drill", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"{path}:2:9: events[0].at: invalid duration 'soon'")


def test_rules_that_do_not_load_exit_2(
    drills: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passing, _ = drills
    broken = tmp_path / "rules.yaml"
    broken.write_text("version: 1\nrules: 3\n")
    assert main(["drill", "--rules", str(broken), str(passing)]) == 2
    assert "the rules do not load" in capsys.readouterr().err
