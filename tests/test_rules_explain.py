"""explain() and format_text(): what `alertgw rules test` prints."""

from __future__ import annotations

import json

import pytest

from core.rules import explain, format_text, load_policy
from core.rules.model import Policy
from tests.conftest import REPO
from tests.rules.alerts import make_alert


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(REPO / "rules", environ={})


def test_explain_a_sev1(policy: Policy) -> None:
    alert = make_alert(
        {"alertname": "HighErrorRate"},
        fingerprint="am:6a3f1c2b9d8e7f01",
        title="5xx ratio above 5%",
        service="checkout",
        environment="production",
        level="critical",
    )
    [result] = explain(policy, alert)
    assert result == {
        "fingerprint": "am:6a3f1c2b9d8e7f01",
        "source": "alertmanager",
        "status": "firing",
        "title": "5xx ratio above 5%",
        "labels": {
            "alertname": "HighErrorRate",
            "environment": "production",
            "level": "critical",
            "service": "checkout",
            "source": "alertmanager",
            "status": "firing",
            "title": "5xx ratio above 5%",
        },
        "rule": "checkout-or-payments-down",
        "severity": "SEV1",
        "incident": "checkout-or-payments-down:service=checkout,environment=production",
        "escalation": "standard",
        "timeline": [
            {"after": "0s", "notify": ["oncall", "incidents"]},
            {"after": "5m", "notify": ["eng-lead"]},
            {"after": "20m", "notify": ["cto"]},
            {"after": "50m", "notify": ["ceo"]},
        ],
    }
    assert json.loads(json.dumps(result)) == result


def test_explain_shows_during_and_one_entry_per_classification(policy: Policy) -> None:
    [result] = explain(policy, make_alert(service="search", level="warning"))
    assert (result["rule"], result["severity"]) == ("default", "SEV3")
    assert result["timeline"] == [
        {"after": "0s", "notify": ["incidents"]},
        {"after": "30m", "notify": ["oncall"], "during": "business-hours"},
    ]


def test_format_text(policy: Policy) -> None:
    alert = make_alert(
        {"alertname": "Slow"},
        fingerprint="am:1",
        title="Slow",
        service="search",
        environment="production",
        level="warning",
    )
    assert format_text(explain(policy, alert)) == (
        "am:1  (firing)  Slow\n"
        "  rule        default\n"
        "  severity    SEV3\n"
        "  incident    default:am:1\n"
        "  escalation  business\n"
        "  labels      alertname   = Slow\n"
        "              environment = production\n"
        "              level       = warning\n"
        "              service     = search\n"
        "              source      = alertmanager\n"
        "              status      = firing\n"
        "              title       = Slow\n"
        "  timeline    +0s   incidents\n"
        "              +30m  oncall  (during business-hours)\n"
    )
    assert format_text([]) == ""
    two = explain(policy, alert) * 2
    assert format_text(two).count("\n\nam:1") == 1


TWO_STEPS = """
version: 1
targets:
  oncall: {pagerduty: {routing_key: "k"}}
  lead: {pagerduty: {routing_key: "l"}}
escalations:
  standard:
    steps:
      - {notify: [oncall], wait: 5m}
      - {notify: [lead]}
rules:
"""


def test_pending_for_delays_every_step_and_is_shown(tmp_path) -> None:
    (tmp_path / "rules.yaml").write_text(
        TWO_STEPS
        + """  - name: flaky-probe
    matchers: ['alertname="ProbeFailed"']
    severity: SEV2
    escalation: standard
    pending_for: 2m
default: {severity: SEV3, escalation: standard}
"""
    )
    held = load_policy(tmp_path / "rules.yaml", environ={})
    [result] = explain(held, make_alert({"alertname": "ProbeFailed"}))
    assert result["pending_for"] == "2m"
    assert result["timeline"] == [
        {"after": "2m", "notify": ["oncall"]},
        {"after": "7m", "notify": ["lead"]},
    ]
    text = format_text([result])
    assert "  pending     2m: step 1 waits; a resolve before then sends nothing\n" in text
    assert "  timeline    +2m  oncall\n" in text
    [plain] = explain(held, make_alert({"alertname": "Other"}))
    assert "pending_for" not in plain
    assert plain["timeline"][0] == {"after": "0s", "notify": ["oncall"]}


def test_a_heartbeat_beat_pages_nobody(policy: Policy) -> None:
    [result] = explain(policy, make_alert({"alertname": "Watchdog"}, level="info"))
    assert (result["rule"], result["timeline"]) == ("heartbeat:watchdog", [])
    assert result["heartbeat"] == {"name": "watchdog", "missed_after": "5m"}
    text = format_text([result])
    assert "heartbeat   a beat of watchdog: pages nobody; 5m without one opens" in text


def test_storm_folding_is_shown_for_step_one_targets(tmp_path) -> None:
    (tmp_path / "rules.yaml").write_text(
        TWO_STEPS
        + """  - name: down
    matchers: ['alertname="Down"']
    severity: SEV1
    escalation: standard
default: {severity: SEV3, escalation: standard}
storm:
  defaults: {threshold: 20}
"""
    )
    folding = load_policy(tmp_path / "rules.yaml", environ={})
    [result] = explain(folding, make_alert({"alertname": "Slow"}))
    assert result["storm"] == {
        "oncall": "folded into storm:oncall past 20 new-incident pages within 1m "
        "(ends after 5m at most that)"
    }
    assert "  storm       oncall: folded into storm:oncall past 20" in format_text([result])
    [sev1] = explain(folding, make_alert({"alertname": "Down"}))
    assert sev1["storm"] == {"oncall": "never folded (SEV1)"}
