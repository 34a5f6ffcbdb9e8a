"""Durations as ops people write them: `30s`, `5m`, `2h`, `1d`, `1w`, combined as `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

from core.rules.errors import DurationError

# Largest unit first, each unit at most once: the same order Prometheus accepts.
UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_HINT = "use a number and a unit (s, m, h, d, w), largest first, e.g. 30s, 5m, 2h, 1d, 1h30m"


def parse_duration(text: str) -> timedelta:
    """`1h30m` -> timedelta(hours=1, minutes=30); `0` is zero. Raises DurationError."""
    if text == "0":
        return timedelta(0)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise DurationError(f"invalid duration {text!r}: {_HINT}")
    seconds = sum(int(n) * UNITS[u] for n, u in zip(match.groups(), UNITS, strict=True) if n)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The compact form `parse_duration` reads back: `0s`, `90s` -> `1m30s`, `1d2h`.

    Weeks are written as days, which reads better in an escalation timeline; sub-second
    parts are dropped.
    """
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in UNITS.items():
        if unit == "w":
            continue
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
