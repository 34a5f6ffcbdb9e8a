"""Vercel: deployment events fire and resolve per project and target; trouble events fire."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from core.models import Alert
from gateway.exceptions import BadPayload, Unauthorized
from gateway.sources.vercel import SOURCE
from tests.sources.deliveries import RECEIVED, delivery, fixture, settings, sign

SECRET = "vercel-webhook-secret"
DEPLOY_LINKS = [
    {"href": "https://vercel.com/acme/checkout-web/5tx7VkBcNN1aFqM2C", "text": "Vercel deployment"},
    {"href": "https://vercel.com/acme/checkout-web", "text": "Vercel project"},
]


def normalize(name: str) -> list[Alert]:
    body, _ = fixture("vercel", name)
    sent = delivery(body)
    return SOURCE.normalize(SOURCE.parse(sent), sent)


def only(name: str) -> Alert:
    alerts = normalize(name)
    assert len(alerts) == 1
    assert alerts[0].raw == fixture("vercel", name)[1]
    assert alerts[0].received_at == RECEIVED
    return alerts[0]


def fields(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(exclude={"raw", "received_at"})


def deployment_fields(
    event: str, status: str, title: str, deployment: str, url: str, at: datetime
) -> dict[str, Any]:
    return {
        "source": "vercel",
        "fingerprint": "vercel:prj_abcdef123:production",
        "status": status,
        "title": title,
        "summary": f"https://{url}\ncheckout: retry payment intents",
        "service": "checkout-web",
        "environment": "production",
        "level": "error",
        "labels": {
            "target": "production",
            "project": "checkout-web",
            "project_id": "prj_abcdef123",
            "deployment": deployment,
            "event_type": event,
            "team": "team_9uE3r2LQzXv1",
            "region": "iad1",
            "branch": "main",
            "source": "vercel",
            "status": status,
            "title": title,
            "service": "checkout-web",
            "environment": "production",
            "level": "error",
        },
        "links": DEPLOY_LINKS,
        "starts_at": at,
        "ends_at": at if status == "resolved" else None,
    }


FAILED = ("dpl_5tx7VkBcNN1aFqM2C", "checkout-web-3kd92la.vercel.app")
SUCCEEDED = ("dpl_9ZyXwVuTsRqPoNmLkJ", "checkout-web-7hs61qa.vercel.app")


@pytest.mark.parametrize(
    ("name", "event", "status", "title", "deployment", "at"),
    [
        (
            "deployment_error.json",
            "deployment.error",
            "firing",
            "Deployment failed: checkout-web (production)",
            FAILED,
            datetime(2026, 3, 2, 10, 22, 19, 123000, tzinfo=UTC),
        ),
        (
            "deployment_canceled.json",
            "deployment.canceled",
            "firing",
            "Deployment canceled: checkout-web (production)",
            FAILED,
            datetime(2026, 3, 2, 10, 23, 20, tzinfo=UTC),
        ),
        (
            "deployment_succeeded.json",
            "deployment.succeeded",
            "resolved",
            "Deployment succeeded: checkout-web (production)",
            SUCCEEDED,
            datetime(2026, 3, 2, 10, 40, 0, 456000, tzinfo=UTC),
        ),
        (
            "deployment_ready.json",
            "deployment.ready",
            "resolved",
            "Deployment ready: checkout-web (production)",
            SUCCEEDED,
            datetime(2026, 3, 2, 10, 40, 1, tzinfo=UTC),
        ),
    ],
)
def test_production_deployments(
    name: str, event: str, status: str, title: str, deployment: tuple[str, str], at: datetime
) -> None:
    expected = deployment_fields(event, status, title, *deployment, at)
    assert fields(only(name)) == expected


def test_success_resolves_what_the_failure_fired() -> None:
    failed = only("deployment_error.json")
    succeeded = only("deployment_succeeded.json")
    assert (failed.fingerprint, failed.level) == (succeeded.fingerprint, succeeded.level)
    assert (failed.status, succeeded.status) == ("firing", "resolved")


def test_preview_checks_failed() -> None:
    title = "Deployment checks failed: checkout-web (preview)"
    at = datetime(2026, 3, 2, 10, 25, tzinfo=UTC)
    assert fields(only("deployment_checks_failed.json")) == {
        "source": "vercel",
        "fingerprint": "vercel:prj_abcdef123:preview",  # no target: a preview deployment
        "status": "firing",
        "title": title,
        "summary": (
            "https://checkout-web-git-feat-x-acme.vercel.app\ncheckout: retry payment intents"
        ),
        "service": "checkout-web",
        "environment": "preview",
        "level": "warning",
        "labels": {
            "target": "preview",
            "project": "checkout-web",
            "project_id": "prj_abcdef123",
            "deployment": "dpl_8PqR2sT4uV6wX8yZ0a",
            "event_type": "deployment.checks.failed",
            "region": "iad1",
            "branch": "feat-x",
            "source": "vercel",
            "status": "firing",
            "title": title,
            "service": "checkout-web",
            "environment": "preview",
            "level": "warning",
        },
        "links": DEPLOY_LINKS,
        "starts_at": at,
        "ends_at": None,
    }


def test_firewall_attack() -> None:
    title = "Firewall: attack detected: checkout-web"
    at = datetime(2026, 3, 2, 10, 56, 40, tzinfo=UTC)
    assert fields(only("firewall_attack.json")) == {
        "source": "vercel",
        "fingerprint": "vercel:firewall.attack:prj_abcdef123",
        "status": "firing",
        "title": title,
        "summary": "DDoS mitigation active: 48k requests/s from 1.2k IPs",
        "service": "checkout-web",
        "environment": None,
        "level": "error",
        "labels": {
            "project": "checkout-web",
            "project_id": "prj_abcdef123",
            "event_type": "firewall.attack",
            "team": "team_9uE3r2LQzXv1",
            "region": "iad1",
            "source": "vercel",
            "status": "firing",
            "title": title,
            "service": "checkout-web",
            "level": "error",
        },
        "links": [
            {"href": "https://vercel.com/acme/checkout-web/firewall", "text": "Vercel project"}
        ],
        "starts_at": at,
        "ends_at": None,
    }


def test_budget_reached_is_about_the_team() -> None:
    alert = only("budget_reached.json")
    assert fields(alert) == {
        "source": "vercel",
        "fingerprint": "vercel:budget.reached:team_9uE3r2LQzXv1",
        "status": "firing",
        "title": "Budget reached",
        "summary": "Spend reached 100% of the $500 monthly budget",
        "service": None,
        "environment": None,
        "level": "warning",
        "labels": {
            "event_type": "budget.reached",
            "team": "team_9uE3r2LQzXv1",
            "region": "iad1",
            "source": "vercel",
            "status": "firing",
            "title": "Budget reached",
            "level": "warning",
        },
        "links": [],
        "starts_at": datetime(2026, 3, 2, 11, 13, 20, tzinfo=UTC),
        "ends_at": None,
    }


def test_certificate_renewal_failed_is_about_the_domain() -> None:
    alert = only("domain_certificate_renew_failed.json")
    title = "Certificate renewal failed: checkout.acme.example"
    assert fields(alert) == {
        "source": "vercel",
        "fingerprint": "vercel:domain.certificate.renew.failed:checkout.acme.example",
        "status": "firing",
        "title": title,
        "summary": "ACME challenge failed: CAA record forbids letsencrypt.org",
        "service": None,
        "environment": None,
        "level": "error",
        "labels": {
            "domain": "checkout.acme.example",
            "event_type": "domain.certificate.renew.failed",
            "team": "team_9uE3r2LQzXv1",
            "region": "iad1",
            "source": "vercel",
            "status": "firing",
            "title": title,
            "level": "error",
        },
        "links": [],
        "starts_at": datetime(2026, 3, 2, 11, 30, tzinfo=UTC),
        "ends_at": None,
    }


@pytest.mark.parametrize("name", ["deployment_created.json", "project_created.json"])
def test_other_events_are_accepted_without_alerts(name: str) -> None:
    assert normalize(name) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "deployment.error", "payload": {}}, "id"),
        ({"id": "x", "payload": {}}, "type"),
        ({"id": "x", "type": "deployment.error", "payload": {}}, "payload.deployment"),
        (
            {"id": "x", "type": "deployment.error", "payload": {"deployment": {"id": "d"}}},
            "payload.project",
        ),
        ({"id": "x", "type": "budget.reached", "payload": []}, "payload"),
    ],
)
def test_wrongly_shaped_bodies_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(BadPayload, match="^" + re.escape(f"{field}:")):
        SOURCE.normalize(body, delivery(b""))


def test_signature_is_hmac_sha1_of_the_raw_body_with_rotation() -> None:
    body, _ = fixture("vercel", "deployment_error.json")
    config = settings(vercel_secret=f"{SECRET},next-secret")
    for secret in (SECRET, "next-secret"):
        SOURCE.verify(delivery(body, {"x-vercel-signature": sign(secret, body, "sha1")}), config)
    tampered = body.replace(b"production", b"preview")
    for sent in (
        delivery(tampered, {"x-vercel-signature": sign(SECRET, body, "sha1")}),
        delivery(body, {"x-vercel-signature": sign(SECRET, body, "sha256")}),
        delivery(body),
    ):
        with pytest.raises(Unauthorized, match="invalid or missing credentials"):
            SOURCE.verify(sent, config)
    with pytest.raises(Unauthorized, match="ALERTGW_VERCEL_SECRET"):
        SOURCE.verify(delivery(body, {"x-vercel-signature": "00"}), settings())


def test_delivery_id_is_the_envelope_id() -> None:
    body, parsed = fixture("vercel", "deployment_error.json")
    assert SOURCE.delivery_id(parsed, delivery(body)) == "uHNl8kpbBYQmL2rT9vEx"
    assert SOURCE.delivery_id({"id": ""}, delivery(body)) is None
    assert SOURCE.delivery_id(["x"], delivery(body)) is None
