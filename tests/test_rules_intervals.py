"""Time intervals: Alertmanager semantics, contains and next_start (core/rules/intervals.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.rules import IntervalError
from core.rules.intervals import (
    NamedInterval,
    Period,
    parse_days_of_month,
    parse_months,
    parse_times,
    parse_weekdays,
    parse_years,
)

BERLIN = ZoneInfo("Europe/Berlin")
BUSINESS = NamedInterval(
    "business-hours",
    (
        Period(
            times=(parse_times("09:00", "18:00"),),
            weekdays=(parse_weekdays("monday:friday"),),
            location=BERLIN,
        ),
    ),
)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (berlin(2026, 3, 2, 9, 0), True),  # Monday, start is inclusive
        (berlin(2026, 3, 2, 17, 59), True),
        (berlin(2026, 3, 2, 18, 0), False),  # end is exclusive
        (berlin(2026, 3, 2, 8, 59), False),
        (berlin(2026, 3, 6, 12, 0), True),  # Friday
        (berlin(2026, 3, 7, 12, 0), False),  # Saturday
        (berlin(2026, 3, 8, 12, 0), False),  # Sunday
        (datetime(2026, 3, 2, 8, 30, tzinfo=UTC), True),  # 09:30 in Berlin (CET)
        (datetime(2026, 7, 1, 7, 30, tzinfo=UTC), True),  # 09:30 in Berlin (CEST)
        (datetime(2026, 7, 1, 16, 30, tzinfo=UTC), False),  # 18:30 in Berlin
    ],
)
def test_contains(moment: datetime, inside: bool) -> None:
    assert BUSINESS.contains(moment) is inside


@pytest.mark.parametrize(
    ("moment", "start"),
    [
        # inside: the moment itself
        (berlin(2026, 3, 4, 10, 15), berlin(2026, 3, 4, 10, 15)),
        # Friday evening -> Monday morning
        (berlin(2026, 3, 6, 18, 0), berlin(2026, 3, 9, 9, 0)),
        (berlin(2026, 3, 7, 3, 0), berlin(2026, 3, 9, 9, 0)),
        # early morning -> the same day
        (berlin(2026, 3, 3, 6, 0), berlin(2026, 3, 3, 9, 0)),
        # across the spring change (Sunday 29 March 2026, 02:00 -> 03:00): 09:00 CEST
        (berlin(2026, 3, 27, 19, 0), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
        # across the autumn change (Sunday 25 October 2026): 09:00 CET
        (berlin(2026, 10, 23, 19, 0), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
    ],
)
def test_next_start(moment: datetime, start: datetime) -> None:
    found = BUSINESS.next_start(moment)
    assert found == start
    assert found is not None
    assert BUSINESS.contains(found)
    assert not BUSINESS.contains(found - timedelta(minutes=1)) or found == moment


def test_next_start_in_the_hour_that_does_not_exist() -> None:
    # 02:00-04:00 daily; on 29 March 2026 02:00-03:00 is skipped: it starts at 03:00 CEST
    night = Period(times=(parse_times("02:00", "04:00"),), location=BERLIN)
    found = night.next_start(berlin(2026, 3, 29, 0, 30))
    assert found == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert found is not None
    assert found.astimezone(BERLIN).hour == 3


def test_next_start_in_the_hour_that_happens_twice() -> None:
    # 02:30-03:00 happens twice on 25 October 2026: first in CEST, then in CET
    repeated = Period(times=(parse_times("02:30", "03:00"),), location=BERLIN)
    first = repeated.next_start(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = repeated.next_start(first + timedelta(minutes=30))
    assert second == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_days_of_month_negative_and_clamped() -> None:
    last_day = Period(days_of_month=(parse_days_of_month("-1"),))
    assert last_day.contains(datetime(2026, 2, 28, 12, tzinfo=UTC))
    assert not last_day.contains(datetime(2026, 3, 30, 12, tzinfo=UTC))
    assert last_day.next_start(datetime(2026, 2, 3, tzinfo=UTC)) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    last_three = Period(days_of_month=(parse_days_of_month("-3:-1"),))
    assert last_three.contains(datetime(2028, 2, 27, tzinfo=UTC))  # leap year: 27, 28, 29
    assert not last_three.contains(datetime(2028, 2, 26, tzinfo=UTC))
    # a range starting after the month's end is skipped, as in Alertmanager
    late = Period(days_of_month=(parse_days_of_month("30:31"),))
    assert late.next_start(datetime(2026, 2, 1, tzinfo=UTC)) == datetime(2026, 3, 30, tzinfo=UTC)


def test_months_years_and_weekday_lists() -> None:
    period = Period(
        weekdays=(parse_weekdays("saturday"), parse_weekdays("sunday")),
        months=(parse_months("december"), parse_months("1:2")),
        years=(parse_years("2027:2028"),),
    )
    # first weekend day of a winter month in 2027
    assert period.next_start(datetime(2026, 6, 1, tzinfo=UTC)) == datetime(2027, 1, 2, tzinfo=UTC)
    assert period.next_start(datetime(2028, 12, 31, 12, tzinfo=UTC)) == datetime(
        2028, 12, 31, 12, tzinfo=UTC
    )
    assert period.next_start(datetime(2029, 1, 1, tzinfo=UTC)) is None


def test_next_start_of_a_rare_day_is_fast_and_never_is_none() -> None:
    leap_day = Period(days_of_month=(parse_days_of_month("29"),), months=(parse_months("2"),))
    started = time.perf_counter()
    assert leap_day.next_start(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(
        2028, 2, 29, tzinfo=UTC
    )
    never = Period(days_of_month=(parse_days_of_month("31"),), months=(parse_months("february"),))
    assert never.next_start(datetime(2026, 3, 1, tzinfo=UTC)) is None
    # day stepping over 400 years with month skipping: well under a second even here
    assert time.perf_counter() - started < 2


def test_union_of_periods_takes_the_earliest_start() -> None:
    interval = NamedInterval(
        "two",
        (
            Period(weekdays=(parse_weekdays("saturday"),)),
            Period(times=(parse_times("22:00", "24:00"),)),
        ),
    )
    assert interval.next_start(datetime(2026, 3, 2, 12, tzinfo=UTC)) == datetime(
        2026, 3, 2, 22, tzinfo=UTC
    )
    assert interval.contains(datetime(2026, 3, 7, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (
            parse_weekdays,
            "friday:monday",
            "invalid range 'friday:monday': the start is after the end",
        ),
        (parse_weekdays, "monday:sunday", "the start is after the end"),  # Sunday is 0
        (parse_weekdays, "funday", "invalid weekday 'funday'"),
        (parse_months, "13", "invalid month '13'"),
        (parse_days_of_month, "0", "invalid day of month 0"),
        (parse_days_of_month, "-1:3", "start is negative, end positive"),
        (parse_days_of_month, "5:1", "the start is after the end"),
        (parse_years, "2028:2026", "the start is after the end"),
        (parse_years, "next", "invalid year range 'next'"),
    ],
)
def test_field_errors(parse: object, text: str, message: str) -> None:
    assert callable(parse)
    with pytest.raises(IntervalError) as raised:
        parse(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("start", "end"),
    [("18:00", "09:00"), ("09:00", "09:00"), ("9:00", "10:00"), ("24:00", "24:00")],
)
def test_times_errors(start: str, end: str) -> None:
    with pytest.raises(IntervalError):
        parse_times(start, end)
