"""The YAML rule engine (SPEC §6): load rule files, classify alerts, explain decisions.

`load_policy` reads and validates rule files into a `Policy`; `Policy.classify` is the
gateway's hot path; `explain` and `format_text` serve `alertgw rules test`.
"""

from __future__ import annotations

from gateway.rules.durations import format_duration, parse_duration
from gateway.rules.errors import DurationError, IntervalError, MatcherError, RulesError
from gateway.rules.explain import explain, format_text
from gateway.rules.loader import load_policy
from gateway.rules.matchers import parse_matcher, parse_matchers
from gateway.rules.model import Classification, Policy

__all__ = [
    "Classification",
    "DurationError",
    "IntervalError",
    "MatcherError",
    "Policy",
    "RulesError",
    "explain",
    "format_duration",
    "format_text",
    "load_policy",
    "parse_duration",
    "parse_matcher",
    "parse_matchers",
]
