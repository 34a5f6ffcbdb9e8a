"""The rule keys of hold-down and flap damping, and the heartbeats section, as loaded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.rules import RulesError, load_policy
from core.rules.model import Flap

RULES = """
version: 1
targets:
  oncall: {pagerduty: {routing_key: "k"}}
escalations:
  standard:
    steps:
      - notify: [oncall]
rules:
  - name: probe
    matchers: ['alertname="ProbeFailed"']
    severity: SEV2
    escalation: standard
    pending_for: 90s
    flap: {changes: 3, within: 5m, quiet: 10m}
  - name: plain
    severity: SEV3
    escalation: standard
default: {severity: SEV4, escalation: standard, pending_for: 1m}
flap: {changes: 6, within: 30m, quiet: 15m}
heartbeats:
  nightly:
    period: 1d
    grace: 2h
    severity: SEV3
    escalation: standard
    labels: {team: data}
    token: "${NIGHTLY_TOKEN}"
"""


def test_rule_keys_and_the_flap_default(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    policy = load_policy(path, environ={"NIGHTLY_TOKEN": "t1, t2"})
    probe, plain = policy.rules
    assert probe.pending_for == timedelta(seconds=90)
    assert probe.flap == Flap(3, timedelta(minutes=5), timedelta(minutes=10))
    assert plain.pending_for is None
    assert plain.flap == Flap(6, timedelta(minutes=30), timedelta(minutes=15))
    assert policy.default.pending_for == timedelta(minutes=1)
    assert policy.default.flap == plain.flap
    assert policy.rule_named("probe") is probe
    assert policy.rule_named("heartbeat:nightly") is None
    nightly = policy.heartbeats["nightly"]
    assert nightly.tokens == ("t1", "t2")
    assert nightly.from_alert is None
    assert nightly.allowance == timedelta(days=1, hours=2)
    assert dict(nightly.labels) == {"team": "data"}
    assert "t1" not in repr(nightly)


def test_heartbeats_merge_by_name_across_files(tmp_path: Path) -> None:
    (tmp_path / "10.yaml").write_text(RULES.replace("${NIGHTLY_TOKEN}", ""))
    (tmp_path / "20.yaml").write_text(
        "version: 1\nheartbeats:\n  nightly: {period: 1h, grace: 1m, severity: SEV3,"
        " escalation: standard}\n"
    )
    with pytest.raises(RulesError) as raised:
        load_policy(tmp_path, environ={})
    assert raised.value.problems == [
        f"{tmp_path}/20.yaml:3:3: heartbeats.nightly: 'nightly' is already defined at "
        f"{tmp_path}/10.yaml:22:3"
    ]
