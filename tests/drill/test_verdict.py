"""Judging a drill: every expected notification within the grid, and no other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alertgw.drill.recorder import Sent
from alertgw.drill.spec import Expected
from alertgw.drill.verdict import GRID, judge

START = datetime(2026, 3, 2, 10, tzinfo=UTC)


def sent(seconds: float, target: str = "oncall", action: str = "trigger") -> Sent:
    at = START + timedelta(seconds=seconds)
    return Sent(at, target, action, "k", "rule", "SEV1", "")


def expected(seconds: float, target: str = "oncall", action: str = "trigger") -> Expected:
    return Expected(timedelta(seconds=seconds), target, action, "d.yaml:1:1")


def test_the_grid_is_at_most_fifteen_seconds() -> None:
    assert timedelta(0) < GRID <= timedelta(seconds=15)


def test_exactly_what_was_expected_passes() -> None:
    verdict = judge(
        (expected(0), expected(300, "eng-lead")),
        [sent(0), sent(300, "eng-lead")],
        START,
        frozenset(),
    )
    assert verdict.passed


def test_a_notification_late_within_the_grid_matches() -> None:
    assert judge((expected(300),), [sent(315)], START, frozenset()).passed
    assert judge((expected(300),), [sent(285)], START, frozenset()).passed


def test_a_notification_outside_the_grid_is_both_missing_and_unexpected() -> None:
    verdict = judge((expected(300),), [sent(316)], START, frozenset())
    assert [m.at for m in verdict.missing] == [timedelta(seconds=300)]
    assert verdict.unexpected == [sent(316)]
    assert not verdict.passed


def test_a_missing_page_fails() -> None:
    verdict = judge((expected(0), expected(0, "incidents")), [sent(0)], START, frozenset())
    assert [(m.target, m.action) for m in verdict.missing] == [("incidents", "trigger")]
    assert verdict.unexpected == []


def test_an_unexpected_page_fails() -> None:
    verdict = judge((expected(0),), [sent(0), sent(300, "eng-lead")], START, frozenset())
    assert verdict.missing == []
    assert verdict.unexpected == [sent(300, "eng-lead")]


def test_target_and_action_must_both_be_equal() -> None:
    verdict = judge((expected(0),), [sent(0, action="escalate")], START, frozenset())
    assert len(verdict.missing) == 1
    assert len(verdict.unexpected) == 1


def test_two_expected_pages_need_two_pages() -> None:
    verdict = judge((expected(0), expected(0)), [sent(0)], START, frozenset())
    assert len(verdict.missing) == 1


def test_each_expectation_takes_the_closest_notification() -> None:
    verdict = judge((expected(10), expected(20)), [sent(22), sent(9)], START, frozenset())
    assert verdict.passed


def test_ignored_actions_are_left_out() -> None:
    notifications = [sent(0), sent(900, "incidents", "status_update_due")]
    verdict = judge((expected(0),), notifications, START, frozenset({"status_update_due"}))
    assert verdict.passed
    assert not judge((expected(0),), notifications, START, frozenset()).passed
