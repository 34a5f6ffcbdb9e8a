"""The shipped policy in rules/ (SPEC §1) and the example team file next to it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.models import Alert
from core.rules import load_policy
from core.rules.model import Policy
from gateway.sources import SOURCES
from gateway.sources.base import Delivery
from tests.conftest import PAYLOADS, REPO
from tests.rules.alerts import make_alert

RULES = REPO / "rules"
EXAMPLE = RULES / "examples" / "data-team.yaml"
SENTRY_RESOURCES = {"issue": "issue", "event": "event_alert", "metric": "metric_alert"}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(RULES, environ={})


def vendor_alerts(source: str, name: str) -> list[Alert]:
    """A payload fixture normalized by its real source, as the gateway would."""
    headers = {"content-type": "application/json"}
    if source == "sentry":
        headers["sentry-hook-resource"] = SENTRY_RESOURCES[name.split("_")[0]]
    body = (PAYLOADS / source / name).read_bytes()
    delivery = Delivery(body, headers, {}, datetime(2026, 3, 2, 12, tzinfo=UTC))
    handler = SOURCES[source]
    return handler.normalize(handler.parse(delivery), delivery)


def classes(policy: Policy, alert: Alert) -> list[tuple[str, str, str]]:
    return [(c.rule, c.severity, c.escalation) for c in policy.classify(alert)]


def test_loads_with_an_empty_environment_and_warns_about_credentials(policy: Policy) -> None:
    assert {t.name for t in policy.targets.values() if not t.configured} == {
        "oncall",
        "eng-lead",
        "cto",
        "ceo",
    }
    assert policy.targets["incidents"].slack is not None
    assert policy.targets["incidents"].slack.channel == "#incidents"
    assert len(policy.warnings) == 4
    assert all(
        w.endswith("empty credential; this target is skipped in live delivery")
        for w in policy.warnings
    )
    assert (
        load_policy(
            RULES,
            environ={
                "PD_ONCALL_KEY": "k",
                "PD_ENG_LEAD_KEY": "k",
                "PD_CTO_KEY": "k",
                "PD_CEO_KEY": "k",
            },
        ).warnings
        == ()
    )


def test_the_standard_path_is_the_plans(policy: Policy) -> None:
    timeline = [(s.after, s.notify) for s in policy.escalations["standard"].plan("SEV1")]
    assert timeline == [
        (timedelta(0), ("oncall", "incidents")),
        (timedelta(minutes=5), ("eng-lead",)),
        (timedelta(minutes=20), ("cto",)),
        (timedelta(minutes=50), ("ceo",)),
    ]
    assert all("ceo" not in s.notify for s in policy.escalations["standard"].plan("SEV2"))
    business = policy.escalations["business"].plan("SEV3")
    assert [(s.notify, s.during) for s in business] == [
        (("incidents",), None),
        (("oncall",), "business-hours"),
    ]
    assert policy.escalations["chat-only"].plan("SEV4")[0].notify == ("incidents",)
    hours = policy.time_intervals["business-hours"]
    assert hours.contains(datetime(2026, 3, 4, 10, tzinfo=UTC))  # Wednesday 11:00 Berlin
    assert not hours.contains(datetime(2026, 3, 7, 10, tzinfo=UTC))  # Saturday


@pytest.mark.parametrize(
    ("source", "payload", "expected"),
    [
        ("alertmanager", "firing_checkout.json", ("checkout-or-payments-down", "SEV1", "standard")),
        (
            "alertmanager",
            "resolved_checkout.json",
            ("checkout-or-payments-down", "SEV1", "standard"),
        ),
        ("alertmanager", "truncated_no_fingerprint.json", ("non-production", "SEV4", "chat-only")),
        ("sentry", "metric_alert_critical.json", ("checkout-or-payments-down", "SEV1", "standard")),
        ("sentry", "issue_created.json", ("checkout-or-payments-down", "SEV1", "standard")),
        ("sentry", "metric_alert_warning.json", ("default", "SEV3", "business")),
        ("datadog", "template_triggered.json", ("checkout-or-payments-down", "SEV1", "standard")),
        ("datadog", "template_warn_unrendered.json", ("non-production", "SEV4", "chat-only")),
        ("vercel", "deployment_error.json", ("deployment-failed", "SEV3", "business")),
        ("vercel", "deployment_succeeded.json", ("deployment-failed", "SEV3", "business")),
        ("vercel", "deployment_checks_failed.json", ("non-production", "SEV4", "chat-only")),
        ("vercel", "firewall_attack.json", ("firewall-attack", "SEV2", "standard")),
    ],
)
def test_vendor_payloads(
    policy: Policy, source: str, payload: str, expected: tuple[str, ...]
) -> None:
    alerts = vendor_alerts(source, payload)
    assert alerts
    for alert in alerts:
        assert classes(policy, alert) == [expected]


PROD = {"environment": "production"}


@pytest.mark.parametrize(
    ("fields", "labels", "expected"),
    [
        # SEV1: outage, data loss, security breach, payments/checkout down
        ({"service": "payments", "level": "critical"}, PROD, "SEV1"),
        ({"service": "api-gateway", "level": "critical"}, {"alertname": "HighErrorRate"}, "SEV1"),
        ({"service": "orders", "level": "critical"}, {"category": "outage"}, "SEV1"),
        ({"service": "db", "level": "error"}, {"category": "data-loss"}, "SEV1"),
        ({"service": "auth", "level": "critical"}, {"category": "security"}, "SEV1"),
        # SEV2: auth/login/cart, broad latency, unknown criticals
        ({"service": "auth", "level": "error"}, PROD, "SEV2"),
        ({"service": "cart", "level": "critical"}, PROD, "SEV2"),
        ({"service": "login-api", "level": "error"}, {}, "SEV2"),
        ({"service": "search", "level": "critical"}, {"alertname": "HighLatency"}, "SEV2"),
        ({"service": "orders", "level": "error"}, {"category": "latency"}, "SEV2"),
        ({"service": "orders", "level": "critical"}, {"alertname": "DiskFull"}, "SEV2"),
        # SEV3: one endpoint slow, background jobs failing with retries, the rest
        (
            {"service": "search", "level": "critical"},
            {"alertname": "HighLatency", "route": "/q"},
            "SEV3",
        ),
        (
            {"service": "orders", "level": "error"},
            {"category": "latency", "endpoint": "/x"},
            "SEV3",
        ),
        ({"service": "mailer", "level": "warning"}, {"alertname": "KubeJobFailed"}, "SEV3"),
        ({"service": "mailer", "level": "error"}, {"category": "job"}, "SEV3"),
        ({"service": "orders", "level": "error"}, {"alertname": "PodCrashLooping"}, "SEV3"),
        ({"service": "checkout", "level": "warning"}, PROD, "SEV3"),
        # SEV4: cosmetic, log spam, informational, heartbeats, non-production
        ({"service": "web", "level": "warning"}, {"category": "cosmetic"}, "SEV4"),
        ({"service": "web", "level": "error"}, {"category": "logs"}, "SEV4"),
        ({"service": "web", "level": "info"}, {}, "SEV4"),
        ({"level": "info"}, {"alertname": "InfoInhibitor"}, "SEV4"),
        ({"service": "checkout", "level": "critical", "environment": "staging"}, {}, "SEV4"),
        ({"service": "payments", "level": "critical", "environment": "preview"}, {}, "SEV4"),
        ({"service": "auth", "level": "critical", "environment": "dev-eu"}, {}, "SEV4"),
    ],
)
def test_the_plan(
    policy: Policy, fields: dict[str, Any], labels: dict[str, str], expected: str
) -> None:
    fields = {**fields, "environment": fields.get("environment", labels.get("environment"))}
    found = policy.classify(make_alert(dict(labels), **fields))
    assert [c.severity for c in found] == [expected]


def test_the_example_team_file_loads_with_the_shared_files(tmp_path: Path) -> None:
    for path in RULES.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(EXAMPLE, tmp_path / "30-data-team.yaml")
    policy = load_policy(tmp_path, environ={})
    names = [rule.name for rule in policy.rules]
    assert names.index("etl-dag-failed") < names.index("non-production")
    etl = make_alert(
        {"team": "data", "alertname": "AirflowDagFailed", "dag": "nightly"},
        environment="production",
    )
    assert classes(policy, etl) == [
        ("data-team-feed", "SEV4", "data-chat-only"),
        ("etl-dag-failed", "SEV3", "data-pipeline"),
    ]
    assert policy.classify(etl)[1].incident_key == "etl-dag-failed:dag=nightly"
    warehouse = make_alert(service="warehouse", level="critical", environment="prod")
    assert classes(policy, warehouse) == [("warehouse-down", "SEV2", "standard")]
    # staging alerts of the team are left to the shared rules
    staging = make_alert({"team": "data", "alertname": "EtlFailed"}, environment="staging")
    assert classes(policy, staging) == [("non-production", "SEV4", "chat-only")]
    plan = policy.escalations["data-pipeline"].plan("SEV3")
    assert [(s.after, s.during) for s in plan] == [
        (timedelta(0), None),
        (timedelta(hours=1), "data-hours"),
        (timedelta(hours=1), None),
        (timedelta(hours=2), "data-hours"),
    ]


def test_the_example_is_not_loaded_by_default(policy: Policy) -> None:
    assert "data-oncall" not in policy.targets
    assert all(
        path.parent == RULES.relative_to(REPO) or path.parent == RULES for path in policy.files
    )


@pytest.mark.parametrize(
    ("source", "payload", "expected"),
    [
        ("sentry", "event_alert.json", timedelta(hours=1)),  # never resolves by itself
        ("sentry", "issue_created.json", None),  # `resolved` issue webhooks resolve it
        ("sentry", "metric_alert_critical.json", None),
        ("alertmanager", "firing_checkout.json", None),  # resolves, repeats every 4h
        ("datadog", "template_triggered.json", None),  # a metric monitor recovers
        ("vercel", "deployment_error.json", None),
    ],
)
def test_auto_resolve_only_for_alerts_that_never_resolve(
    policy: Policy, source: str, payload: str, expected: timedelta | None
) -> None:
    for alert in vendor_alerts(source, payload):
        for decided in policy.classify(alert):
            assert policy.quiet_for(decided.rule, alert.labels) == expected


def test_datadog_event_monitors_auto_resolve(policy: Policy) -> None:
    fields = {"service": "checkout", "level": "critical", "environment": "production"}
    alert = make_alert({"event_type": "event_alert"}, source="datadog", **fields)
    (decided,) = policy.classify(alert)
    assert policy.quiet_for(decided.rule, alert.labels) == timedelta(hours=1)


def test_watchdog_is_the_heartbeat_of_prometheus_not_sev4_noise(policy: Policy) -> None:
    watchdog = policy.heartbeats["watchdog"]
    assert (watchdog.severity, watchdog.escalation) == ("SEV2", "standard")
    assert watchdog.allowance == timedelta(minutes=5)
    for environment in ("production", "staging", None):
        alert = make_alert({"alertname": "Watchdog"}, level="info", environment=environment)
        found = policy.classify(alert)
        assert [(c.rule, c.severity, c.incident_key) for c in found] == [
            ("heartbeat:watchdog", "SEV2", "heartbeat:watchdog")
        ]
