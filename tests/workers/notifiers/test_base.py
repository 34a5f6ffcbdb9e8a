"""Retry-After, as PagerDuty and Slack send it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workers.notifiers.base import parse_retry_after

NOW = datetime(2026, 3, 2, 10, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Mon, 02 Mar 2026 10:41:30 GMT", 90.0),
        ("Mon, 02 Mar 2026 10:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds
