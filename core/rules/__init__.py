"""The YAML rule engine (SPEC §6): load rule files, classify alerts, explain decisions.

`load_policy` reads and validates rule files into a `Policy`; `Policy.classify` is the
gateway's hot path; `explain` and `format_text` serve `alertgw rules test`.
"""

from __future__ import annotations

from core.rules.durations import format_duration, parse_duration
from core.rules.errors import DurationError, IntervalError, MatcherError, RulesError
from core.rules.explain import explain, format_text
from core.rules.loader import load_policy
from core.rules.matchers import parse_matcher, parse_matchers
from core.rules.model import Classification, Policy

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
