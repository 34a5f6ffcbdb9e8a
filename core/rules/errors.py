"""Errors of the rule engine: a whole rule set that does not load, or one bad value in it."""

from __future__ import annotations

from collections.abc import Iterable


class RulesError(Exception):
    """The rule files do not load; `.problems` holds every `file:line:col: key: message`."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MatcherError(ValueError):
    """A matcher is not valid Alertmanager syntax, or its regex does not compile."""


class DurationError(ValueError):
    """A duration is not written like 30s, 5m, 2h, 1d or 1h30m."""


class IntervalError(ValueError):
    """A time interval field is not valid Alertmanager `time_intervals` syntax."""
