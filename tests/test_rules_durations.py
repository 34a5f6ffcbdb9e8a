"""Durations: parse_duration and format_duration (core/rules/durations.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.rules import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("90m", timedelta(minutes=90)),
        ("0s", timedelta(0)),
        ("0", timedelta(0)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "5", "5 m", "5min", "m", "1m1h", "-5m", "1.5h", "5M", "1h 30m"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert str(raised.value).startswith(f"invalid duration {text!r}: use a number and a unit")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=50), "50m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=1, hours=2), "1d2h"),
        (timedelta(days=14), "14d"),
        (timedelta(seconds=-5), "0s"),
    ],
)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    if value >= timedelta(0):
        assert parse_duration(text) == value
