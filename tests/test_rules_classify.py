"""Policy.classify, Escalation.plan and InhibitRule.inhibits (core/rules/model.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.rules import load_policy, parse_matchers
from core.rules.model import Escalation, InhibitRule, PlannedStep, Policy, Step
from tests.rules.alerts import make_alert

POLICY = """\
version: 1
targets:
  oncall: {pagerduty: {routing_key: k}}
  chat: {slack: {channel: "#incidents"}}
escalations:
  page: {steps: [{notify: [oncall]}]}
  chat: {steps: [{notify: [chat]}]}
rules:
  - name: audit
    matchers: ['team="payments"']
    severity: SEV4
    escalation: chat
    continue: true
  - name: checkout
    matchers: ['service=~"checkout|payments"', 'environment="production"']
    severity: SEV1
    escalation: page
    group_by: [service, environment]
  - name: checkout-anywhere
    matchers: ['service=~"check"']
    severity: SEV2
    escalation: page
  - name: not-prod
    matchers: ['environment!~"prod|production"', 'region=""']
    severity: SEV4
    escalation: chat
    group_by: [region, service]
default: {severity: SEV3, escalation: chat}
"""


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(POLICY)
    return load_policy(path, environ={})


def test_first_match_wins(policy: Policy) -> None:
    alert = make_alert(service="checkout", environment="production")
    [found] = policy.classify(alert)
    assert (found.rule, found.severity, found.escalation) == ("checkout", "SEV1", "page")
    assert found.incident_key == "checkout:service=checkout,environment=production"
    assert found.group_by == ("service", "environment")


def test_continue_lets_later_rules_match_too(policy: Policy) -> None:
    alert = make_alert({"team": "payments"}, service="payments", environment="production")
    found = policy.classify(alert)
    assert [(c.rule, c.severity) for c in found] == [("audit", "SEV4"), ("checkout", "SEV1")]
    assert found[0].incident_key == "audit:am:0001"  # no group_by: one incident per alert


def test_a_continue_rule_alone_is_a_match(policy: Policy) -> None:
    # nothing after `audit` matches (region is set): no default on top of it
    alert = make_alert({"team": "payments", "region": "eu"}, environment="production")
    assert [c.rule for c in policy.classify(alert)] == ["audit"]


def test_default_when_nothing_matches(policy: Policy) -> None:
    alert = make_alert({"region": "eu"}, service="search", environment="production")
    [found] = policy.classify(alert)
    assert (found.rule, found.severity, found.escalation) == ("default", "SEV3", "chat")
    assert found.incident_key == "default:am:0001"


def test_regexes_are_anchored(policy: Policy) -> None:
    # `service=~"check"` must not match "checkout" in staging; `not-prod` does
    alert = make_alert(service="checkout", environment="staging")
    assert [c.rule for c in policy.classify(alert)] == ["not-prod"]
    assert [c.rule for c in policy.classify(make_alert(service="check"))] == ["checkout-anywhere"]


def test_a_missing_label_is_the_empty_string(policy: Policy) -> None:
    # no environment: `environment!~"prod|production"` holds, and `region=""` too
    [found] = policy.classify(make_alert(service="search"))
    assert found.rule == "not-prod"
    # group_by values of missing labels are empty in the key
    assert found.incident_key == "not-prod:region=,service=search"


def test_group_by_puts_alerts_with_equal_values_in_one_incident(policy: Policy) -> None:
    one = make_alert(
        {"instance": "a"}, fingerprint="am:1", service="checkout", environment="production"
    )
    two = make_alert(
        {"instance": "b"}, fingerprint="am:2", service="checkout", environment="production"
    )
    other = make_alert(fingerprint="am:3", service="payments", environment="production")
    keys = [policy.classify(alert)[0].incident_key for alert in (one, two, other)]
    assert keys[0] == keys[1] != keys[2]


def test_long_group_values_are_hashed_into_pagerduty_limits(policy: Policy) -> None:
    alert = make_alert(service="s" * 300)
    [found] = policy.classify(alert)
    assert len(found.incident_key) <= 255
    assert found.incident_key.startswith("not-prod:#")


def test_plan_skips_steps_of_other_severities_and_repeats() -> None:
    five, fifteen = timedelta(minutes=5), timedelta(minutes=15)
    escalation = Escalation(
        "standard",
        (
            Step(("oncall", "incidents"), five),
            Step(("eng-lead",), fifteen),
            Step(("cto",), timedelta(minutes=30), during="business-hours"),
            Step(("ceo",), None, frozenset({"SEV1"})),
        ),
        repeat=1,
    )
    sev1 = escalation.plan("SEV1")
    assert [(s.after, s.notify) for s in sev1[:4]] == [
        (timedelta(0), ("oncall", "incidents")),
        (five, ("eng-lead",)),
        (timedelta(minutes=20), ("cto",)),
        (timedelta(minutes=50), ("ceo",)),
    ]
    # the repeat starts after the last step, which has no wait
    assert [(s.index, s.after) for s in sev1[4:6]] == [
        (4, timedelta(minutes=50)),
        (5, timedelta(minutes=55)),
    ]
    sev2 = escalation.plan("SEV2")
    assert len(sev2) == 6
    assert all("ceo" not in s.notify for s in sev2)
    assert sev2[2] == PlannedStep(2, timedelta(minutes=20), ("cto",), "business-hours")
    assert sev2[3].after == timedelta(minutes=50)  # cto waited 30m, then the path again


def test_inhibit_rules() -> None:
    rule = InhibitRule(
        parse_matchers(['severity="SEV1"']),
        parse_matchers(['severity=~"SEV3|SEV4"']),
        ("service",),
    )
    sev1 = {"severity": "SEV1", "service": "checkout"}
    assert rule.inhibits(sev1, {"severity": "SEV3", "service": "checkout"})
    assert not rule.inhibits(sev1, {"severity": "SEV3", "service": "cart"})
    assert not rule.inhibits(sev1, {"severity": "SEV2", "service": "checkout"})
    assert not rule.inhibits(
        {"severity": "SEV2", "service": "checkout"}, {"severity": "SEV4", "service": "checkout"}
    )
    # missing on both sides counts as equal, as in Alertmanager
    assert rule.inhibits({"severity": "SEV1"}, {"severity": "SEV4"})


def test_inhibit_section_loads(tmp_path: Path) -> None:
    text = POLICY + (
        "inhibit:\n  - source_matchers: ['severity=\"SEV1\"']\n"
        "    target_matchers: ['severity=~\"SEV3|SEV4\"']\n    equal: [service]\n"
    )
    (tmp_path / "rules.yaml").write_text(text)
    [rule] = load_policy(tmp_path, environ={}).inhibit
    assert rule.equal == ("service",)
    assert rule.inhibits({"severity": "SEV1", "service": "x"}, {"severity": "SEV3", "service": "x"})
