"""Time intervals in Alertmanager's `time_intervals` syntax, with the same semantics.

A named interval is a list of periods; a moment is inside when any period contains it.
Inside one period every field that is given must match (a missing field matches all):
`times` (start inclusive, end exclusive, `24:00` allowed as an end), `weekdays`,
`days_of_month` (negative counts from the month's end, `-1` is the last day), `months`,
`years`, all read on the wall clock of `location` (UTC when absent).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.rules.errors import IntervalError

# Alertmanager numbers weekdays from Sunday, so `monday:sunday` is an error there: keep it.
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = tuple(name.lower() for name in calendar.month_name[1:])
_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
# With no `years`, searching this far ahead covers every calendar pattern (the Gregorian
# calendar repeats every 400 years); only an interval that never occurs gets this far.
SEARCH_YEARS = 400

Range = tuple[int, int]


def parse_clock(text: str) -> int:
    """`09:30` -> minutes since midnight; `24:00` is allowed (as an end time)."""
    if not _CLOCK.fullmatch(text):
        raise IntervalError(f"invalid time {text!r}: use HH:MM between 00:00 and 24:00")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def parse_times(start_time: str, end_time: str) -> Range:
    """A `{start_time, end_time}` pair as minutes since midnight, end exclusive."""
    start, end = parse_clock(start_time), parse_clock(end_time)
    if start >= end:
        raise IntervalError(f"start_time {start_time} must be before end_time {end_time}")
    return start, end


def parse_weekdays(text: str | int) -> Range:
    """`monday` or `monday:friday` -> (1, 5), Sunday being 0 as in Alertmanager."""
    return _ordered(_named_range(str(text), WEEKDAYS, 0, "weekday"), text)


def parse_months(text: str | int) -> Range:
    """`march`, `3`, `january:march` or `1:3` -> (1, 3)."""
    return _ordered(_named_range(str(text), MONTHS, 1, "month"), text)


def parse_years(text: str | int) -> Range:
    """`2026` or `2026:2028`."""
    first, last = _split(str(text))
    try:
        years = int(first), int(last)
    except ValueError:
        raise IntervalError(f"invalid year range {text!r}: use 2026 or 2026:2028") from None
    if min(years) < 1:
        raise IntervalError(f"invalid year range {text!r}: years start at 1")
    return _ordered(years, text)


def parse_days_of_month(text: str | int) -> Range:
    """`1`, `1:5`, `-1` (the last day) or `-3:-1`; 0 and values beyond 31 are errors."""
    first, last = _split(str(text))
    try:
        days = int(first), int(last)
    except ValueError:
        raise IntervalError(f"invalid day of month {text!r}: use 1:5, 15 or -3:-1") from None
    for day in days:
        if day == 0 or not -31 <= day <= 31:
            raise IntervalError(f"invalid day of month {day}: use 1 to 31, or -31 to -1")
    if days[0] < 0 < days[1]:
        raise IntervalError(f"invalid day range {text!r}: start is negative, end positive")
    if (days[0] > 0) == (days[1] > 0):
        _ordered(days, text)
    return days


def parse_location(name: str) -> ZoneInfo:
    """An IANA time zone name such as `Europe/Berlin` or `UTC`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise IntervalError(f"unknown time zone {name!r}: use an IANA name") from None


@dataclass(frozen=True)
class Period:
    """One entry of an interval's list: all given fields must match."""

    times: tuple[Range, ...] | None = None
    weekdays: tuple[Range, ...] | None = None
    days_of_month: tuple[Range, ...] | None = None
    months: tuple[Range, ...] | None = None
    years: tuple[Range, ...] | None = None
    location: tzinfo = UTC

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.location)
        minute = local.hour * 60 + local.minute
        if self.times is not None and not _within(minute, self.times):
            return False
        return self._date_matches(local.date())

    def next_start(self, moment: datetime) -> datetime | None:
        if self.contains(moment):
            return moment
        first = moment.astimezone(self.location).date() - timedelta(days=1)
        for day in self._matching_days(first):
            for candidate in self._candidates(day):
                if candidate >= moment and self.contains(candidate):
                    return candidate.astimezone(moment.tzinfo)
        return None

    def _date_matches(self, day: date) -> bool:
        weekday = day.isoweekday() % 7  # Sunday 0, as WEEKDAYS
        if self.weekdays is not None and not _within_closed(weekday, self.weekdays):
            return False
        if self.days_of_month is not None and not self._day_of_month_matches(day):
            return False
        if self.months is not None and not _within_closed(day.month, self.months):
            return False
        return self.years is None or _within_closed(day.year, self.years)

    def _day_of_month_matches(self, day: date) -> bool:
        # Alertmanager's rules: negative days count from the end, a range starting past
        # the month's end is skipped, and the range is clamped to the month.
        length = calendar.monthrange(day.year, day.month)[1]
        for begin, end in self.days_of_month or ():
            begin = length + begin + 1 if begin < 0 else begin
            end = length + end + 1 if end < 0 else end
            if begin > length:
                continue
            if max(begin, -length) <= day.day <= min(end, length):
                return True
        return False

    def _matching_days(self, first: date) -> Iterator[date]:
        """Days whose date fields match, from `first` on; skips whole months and years."""
        last_year = max(end for _, end in self.years) if self.years else first.year + SEARCH_YEARS
        day = first
        while day.year <= min(last_year, date.max.year - 1):
            if self.years is not None and not _within_closed(day.year, self.years):
                day = date(day.year + 1, 1, 1)
            elif self.months is not None and not _within_closed(day.month, self.months):
                day = _next_month(day)
            else:
                if self._date_matches(day):
                    yield day
                day += timedelta(days=1)

    def _candidates(self, day: date) -> list[datetime]:
        """Instants of `day` where the interval may begin: each range's start (either side
        of a repeated hour) and any clock change, when the wall clock jumps into a range."""
        starts = [start for start, _ in self.times] if self.times is not None else [0]
        found = []
        for minute in starts:
            wall = datetime.combine(day, time(minute // 60, minute % 60), self.location)
            found += [wall.replace(fold=0), wall.replace(fold=1)]
        found += _clock_changes(day, self.location)
        return sorted(moment.astimezone(UTC) for moment in found)


@dataclass(frozen=True)
class NamedInterval:
    """A named time interval: the union of its periods (implements `TimeInterval`)."""

    name: str
    periods: tuple[Period, ...]

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (timezone-aware) falls inside the interval."""
        return any(period.contains(moment) for period in self.periods)

    def next_start(self, moment: datetime) -> datetime | None:
        """The first instant at or after `moment` inside the interval; None if never."""
        starts = [s for p in self.periods if (s := p.next_start(moment)) is not None]
        return min(starts, default=None)


def _clock_changes(day: date, zone: tzinfo) -> list[datetime]:
    """The instant the UTC offset changes during `day` (daylight saving), if it does."""
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    if start.astimezone(zone).utcoffset() == end.astimezone(zone).utcoffset():
        return []
    low, high = start, end  # offset(low) is the old one, offset(high) the new one
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == start.astimezone(zone).utcoffset():
            low = middle
        else:
            high = middle
    return [high]


def _within(minute: int, ranges: Sequence[Range]) -> bool:
    return any(start <= minute < end for start, end in ranges)


def _within_closed(value: int, ranges: Sequence[Range]) -> bool:
    return any(first <= value <= last for first, last in ranges)


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _split(text: str) -> tuple[str, str]:
    first, _, last = text.strip().partition(":")
    return first, last or first


def _named_range(text: str, names: Sequence[str], base: int, what: str) -> Range:
    first, last = _split(text)
    return _named(first, names, base, what), _named(last, names, base, what)


def _named(text: str, names: Sequence[str], base: int, what: str) -> int:
    text = text.strip().lower()
    if text in names:
        return names.index(text) + base
    if what == "month" and text.isdigit() and 1 <= int(text) <= 12:
        return int(text)
    raise IntervalError(f"invalid {what} {text!r}: use one of {', '.join(names)}")


def _ordered(bounds: Range, text: str | int) -> Range:
    if bounds[0] > bounds[1]:
        raise IntervalError(f"invalid range {text!r}: the start is after the end")
    return bounds
