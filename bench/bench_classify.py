"""How long one alert takes to classify against 100 rules (run by hand, not in tests).

    python bench/bench_classify.py [--rules 100] [--rounds 20000]

The policy has `--rules` rules of the shapes ops people write (an environment check, a
service regex of alternatives, a level regex, an alertname regex with a wildcard), and
the alert matches none of them but the last, so every rule is tried: the worst case of
the gateway's hot path. The baseline, timed in the same run, is a loop of the same
number of bare `str ==` comparisons, so the ratio says what the engine costs over the
least any rule evaluation could cost on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import timeit
from datetime import UTC, datetime
from pathlib import Path

from core.models import Alert
from core.rules import load_policy
from core.rules.model import Policy

HEADER = """\
version: 1
targets:
  oncall: {pagerduty: {routing_key: k}}
escalations:
  page: {steps: [{notify: [oncall]}]}
default: {severity: SEV3, escalation: page}
rules:
"""
SHAPES = [
    """['environment="production"', 'service=~"svc{n}|svc{n}-api|svc{n}-worker"']""",
    """['service=~"team{n}-.*"', 'level=~"critical|error"']""",
    """['alertname=~"(?i).*rule{n}.*"', 'environment!~"staging|preview"']""",
    """['team="team{n}"', 'level="critical"']""",
]


def build_policy(rules: int) -> Policy:
    lines = [HEADER]
    for n in range(rules - 1):
        matchers = SHAPES[n % len(SHAPES)].format(n=n)
        lines.append(
            f"  - {{name: r{n}, matchers: {matchers}, severity: SEV2, escalation: page}}\n"
        )
    lines.append(
        "  - {name: last, matchers: ['service=\"checkout\"'], severity: SEV1, "
        "escalation: page, group_by: [service, environment]}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_text("".join(lines))
        return load_policy(path, environ={})


def sample_alert() -> Alert:
    at = datetime(2026, 3, 2, 10, 40, tzinfo=UTC)
    labels = {"alertname": "HighErrorRate", "instance": "10.0.3.17:8080", "team": "shop"}
    return Alert(
        source="alertmanager",
        fingerprint="am:6a3f1c2b9d8e7f01",
        status="firing",
        title="5xx ratio above 5%",
        service="checkout",
        environment="production",
        level="critical",
        labels=labels,
        starts_at=at,
        received_at=at,
    )


def per_call_us(function: object, rounds: int, repeat: int = 7) -> float:
    """The median of `repeat` timings, in microseconds per call."""
    assert callable(function)
    times = timeit.repeat(function, number=rounds, repeat=repeat)
    return statistics.median(times) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20000)
    args = parser.parse_args()

    policy = build_policy(args.rules)
    alert = sample_alert()
    [found] = policy.classify(alert)
    assert found.rule == "last", found  # every rule was tried
    values = [f"value-{n}" for n in range(args.rules)]
    probe = "value-none"

    def baseline() -> bool:
        # the least a rule could cost: one comparison, no label lookup, no call
        hit = False
        for value in values:
            if value == probe:
                hit = True
        return hit

    matchers = sum(len(rule.matchers) for rule in policy.rules)
    classify = per_call_us(lambda: policy.classify(alert), args.rounds)
    bare = per_call_us(baseline, args.rounds)
    print(f"rules: {len(policy.rules)}, matchers: {matchers}, alert matches only the last rule")
    print(f"classify:                      {classify:8.2f} µs per alert")
    print(f"baseline ({args.rules} bare str ==):     {bare:8.2f} µs")
    print(f"ratio:                         {classify / bare:8.1f}x")


if __name__ == "__main__":
    main()
