"""A drill's `incidents:` expectations: only the fields given, labels as a subset."""

from __future__ import annotations

from dataclasses import replace

from alertgw.drill.state import IncidentExpected, check
from tests.workers.helpers import incident

RECORD = replace(
    incident("warn:am:1", "SEV3"), rule="warn", title="Disk", labels={"severity": "warning"}
)


def test_only_the_fields_given_are_compared() -> None:
    assert check(IncidentExpected("warn:am:1", "d.yaml:3:5"), [RECORD]) == []
    assert check(IncidentExpected("warn", "d.yaml:3:5", status="open"), [RECORD]) == []


def test_each_difference_is_a_problem_at_the_expectation() -> None:
    wanted = IncidentExpected(
        "warn", "d.yaml:3:5", severity="SEV1", title="Disk", labels={"severity": "critical"}
    )
    assert check(wanted, [RECORD]) == [
        "d.yaml:3:5: incident 'warn': severity is 'SEV3', expected 'SEV1'",
        "d.yaml:3:5: incident 'warn': labels.severity is 'warning', expected 'critical'",
    ]


def test_the_incident_must_be_there_and_alone() -> None:
    other = replace(RECORD, key="warn:am:2")
    assert check(IncidentExpected("warn", "d.yaml:3:5"), []) == [
        "d.yaml:3:5: incident 'warn': 0 incidents match at the end, expected 1"
    ]
    assert check(IncidentExpected("warn", "d.yaml:3:5"), [RECORD, other]) == [
        "d.yaml:3:5: incident 'warn': 2 incidents match at the end, expected 1"
    ]
