"""Reading drill files: defaults, paths relative to the file, and every problem at its
`file:line:col` (one invalid file per case in tests/drill/invalid/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alertgw.drill import DrillFileError, load_drill
from alertgw.drill.spec import DEFAULT_START

INVALID = Path(__file__).parent / "invalid"
SCENARIOS = Path(__file__).parent.parent / "scenarios"

PROBLEMS = {
    "bad_duration": "2:9: events[0].at: invalid duration '5 minutes': use a number and a unit "
    "(s, m, h, d, w), largest first, e.g. 30s, 5m, 2h, 1d, 1h30m",
    "ignored_and_expected": "6:42: expect[0].action: 'status_update_due' is in `ignore`: "
    "it cannot be expected",
    "invalid_yaml": "3:21: invalid YAML: expected ',' or ']', but got '}' "
    "(while parsing a flow sequence at line 3, column 15)",
    "missing_payload_file": "3:40: events[0].post.file: no such payload file",
    "no_events": "1:1: events: required key is missing",
    "out_of_order": "4:9: events[1].at: events must be in time order",
    "silence_without_end": "3:5: events[0].silence: give exactly one of duration, ends",
    "two_kinds": "2:5: events[0]: give exactly one of post, ack, unack, resolve, note, "
    "silence, expire",
    "unack_via_api": "3:18: events[0].unack.via: unack is not possible via api; "
    "use one of: pagerduty",
    "unknown_action": "5:38: expect[0].action: Input should be 'trigger', 'escalate', "
    "'acknowledge', 'resolve', 'severity_raised', 'status_update_due', 'status_update', "
    "'postmortem_due', 'note' or 'refresh'",
    "unknown_key": "4:5: events[0].pots: unknown key",
    "unknown_source": "3:20: events[0].post.source: unknown source 'nagios'; "
    "known: alertmanager, datadog, sentry, vercel",
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_an_invalid_drill_names_file_line_and_column(name: str) -> None:
    path = INVALID / f"{name}.yaml"
    with pytest.raises(DrillFileError) as raised:
        load_drill(path)
    assert raised.value.problems == [f"{path}:{PROBLEMS[name]}"]


def test_every_invalid_case_is_listed() -> None:
    assert {p.stem for p in INVALID.glob("*.yaml")} == set(PROBLEMS)


def test_defaults_start_on_a_monday_and_run_an_hour_past_the_last_time(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "events:\n  - {at: 2m, ack: {}}\nexpect:\n  - {at: 10m, target: a, action: trigger}\n"
    )
    drill = load_drill(path)
    assert drill.start == DEFAULT_START == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert drill.start.weekday() == 0
    assert drill.until == timedelta(minutes=70)
    assert drill.rules is None
    assert [(e.at, e.kind) for e in drill.events] == [(timedelta(minutes=2), "ack")]


def test_paths_are_relative_to_the_drill_file() -> None:
    drill = load_drill(SCENARIOS / "sentry_resolve_with_another_level.yaml")
    assert drill.rules == (SCENARIOS / "../../rules").resolve()
    post = drill.events[1].spec
    assert drill.resolve_path(post.file).is_file()


def test_start_needs_a_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("start: 2026-03-02T10:00:00\nevents: []\n")
    with pytest.raises(DrillFileError) as raised:
        load_drill(path)
    assert raised.value.problems == [
        f"{path}:1:8: start: give a time zone, e.g. 2026-03-02T10:00:00Z"
    ]
