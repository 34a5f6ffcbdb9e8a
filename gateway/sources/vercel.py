"""Vercel account and integration webhooks.

Signed: `x-vercel-signature` is the hex HMAC-SHA1 of the raw body under the webhook's
secret (ALERTGW_VERCEL_SECRET). A failed, canceled or check-failed deployment fires
`vercel:<project id>:<target>`; a later successful deployment of the same project and
target resolves it. Other events that signal trouble (firewall attacks, anomalies,
budgets, certificates) fire with whatever fields they carry, since Vercel does not
document their payloads; every other event type is accepted and produces no alert.
Vercel may deliver one event twice: the envelope `id` lets the hand-off take it once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.models import Alert, Level, Link, Status
from core.settings import Settings
from gateway.sources.base import Delivery, check_hmac, credentials, parse_json, validate

SIGNATURE_HEADER = "x-vercel-signature"
# A deployment without a target is a preview deployment, so Vercel itself calls it.
PREVIEW = "preview"
DEPLOYMENT_EVENTS: dict[str, tuple[Status, str]] = {
    "deployment.error": ("firing", "Deployment failed"),
    "deployment.canceled": ("firing", "Deployment canceled"),
    "deployment.checks.failed": ("firing", "Deployment checks failed"),
    "deployment.succeeded": ("resolved", "Deployment succeeded"),
    "deployment.ready": ("resolved", "Deployment ready"),
}
# Events that mean trouble and have no resolving counterpart, with their level.
TROUBLE_EVENTS: dict[str, tuple[Level, str]] = {
    "alerts.triggered": ("error", "Alert triggered"),
    "observability.anomaly": ("warning", "Anomaly detected"),
    "observability.anomaly-error": ("error", "Error anomaly"),
    "observability.error-anomaly": ("error", "Error anomaly"),
    "observability.usage-anomaly": ("warning", "Usage anomaly"),
    "firewall.attack": ("error", "Firewall: attack detected"),
    "firewall.system-rule-anomaly": ("warning", "Firewall: system rule anomaly"),
    "firewall.custom-rule-anomaly": ("warning", "Firewall: custom rule anomaly"),
    "botid.anomaly": ("warning", "BotID anomaly"),
    "budget.reached": ("warning", "Budget reached"),
    "domain.certificate.renew.failed": ("error", "Certificate renewal failed"),
    "domain.renewal.failed": ("error", "Domain renewal failed"),
    "project.rolling-release.aborted": ("error", "Rolling release aborted"),
}


class VercelModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class Envelope(VercelModel):
    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    createdAt: datetime | None = None  # epoch milliseconds; Vercel spells it in camelCase
    region: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class Ref(VercelModel):
    id: str | None = None


class ProjectRef(VercelModel):
    id: str = Field(min_length=1)


class Deployment(VercelModel):
    id: str = Field(min_length=1)
    name: str = ""
    url: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)


class Links(VercelModel):
    deployment: str = ""
    project: str = ""


class DeploymentPayload(VercelModel):
    deployment: Deployment
    project: ProjectRef
    target: str | None = None
    team: Ref | None = None
    links: Links = Field(default_factory=Links)


class DeploymentEvent(VercelModel):
    payload: DeploymentPayload


class VercelSource:
    """`POST /webhooks/vercel`."""

    name: Literal["vercel"] = "vercel"

    def verify(self, delivery: Delivery, settings: Settings) -> None:
        secrets = credentials(settings, "vercel_secret")
        if secrets is not None:
            signature = delivery.headers.get(SIGNATURE_HEADER, "")
            check_hmac(signature, delivery.body, secrets, digest="sha1")

    def parse(self, delivery: Delivery) -> Any:
        return parse_json(delivery)

    def normalize(self, payload: Any, delivery: Delivery) -> list[Alert]:
        envelope = validate(Envelope, payload)
        if envelope.type in DEPLOYMENT_EVENTS:
            return [_deployment_alert(envelope, payload, delivery.received_at)]
        if envelope.type in TROUBLE_EVENTS:
            return [_trouble_alert(envelope, payload, delivery.received_at)]
        return []

    def delivery_id(self, payload: Any, delivery: Delivery) -> str | None:
        envelope_id = payload.get("id") if isinstance(payload, dict) else None
        return str(envelope_id) if isinstance(envelope_id, str | int) and envelope_id else None


def _deployment_alert(envelope: Envelope, raw: dict[str, Any], received_at: datetime) -> Alert:
    status, what = DEPLOYMENT_EVENTS[envelope.type]
    # the payload is validated apart from the envelope, so an error names its full path
    body = validate(DeploymentEvent, {"payload": envelope.payload}).payload
    deployment = body.deployment
    target = body.target or PREVIEW
    project = deployment.name or body.project.id
    labels = _present(
        target=target,
        project=project,
        project_id=body.project.id,
        deployment=deployment.id,
        event_type=envelope.type,
        team=body.team.id if body.team else None,
        region=envelope.region,
        branch=_git_ref(deployment.meta),
    )
    at = _at(envelope, received_at)
    return Alert(
        source="vercel",
        fingerprint=f"vercel:{body.project.id}:{target}",
        status=status,
        title=f"{what}: {project} ({target})",
        summary=_deployment_summary(deployment),
        service=project,
        environment=target,
        # the level depends on the target only, so a success resolves what a failure
        # of the same target fired under the same classification rule
        level="error" if target == "production" else "warning",
        labels=labels,
        links=_links(
            (body.links.deployment, "Vercel deployment"), (body.links.project, "Vercel project")
        ),
        starts_at=at,
        ends_at=at if status == "resolved" else None,
        received_at=received_at,
        raw=raw,
    )


def _trouble_alert(envelope: Envelope, raw: dict[str, Any], received_at: datetime) -> Alert:
    level, what = TROUBLE_EVENTS[envelope.type]
    body = envelope.payload
    project_id = _text(body, "project", "id") or _text(body, "projectId")
    project = _text(body, "project", "name") or _text(body, "projectName") or project_id
    domain = _text(body, "domain", "name") or _text(body, "domain")
    environment = _text(body, "target") or _text(body, "environment")
    detail = _text(body, "alert", "title") or _text(body, "title") or project or domain
    # these events have no resolving counterpart: repeats of one kind about one
    # subject share a fingerprint, so they join one incident instead of paging anew
    subject = project_id or domain or _text(body, "team", "id") or "account"
    labels = _present(
        project=project,
        project_id=project_id,
        domain=domain,
        target=environment,
        event_type=envelope.type,
        team=_text(body, "team", "id"),
        region=envelope.region,
    )
    return Alert(
        source="vercel",
        fingerprint=f"vercel:{envelope.type}:{subject}",
        status="firing",
        title=f"{what}: {detail}" if detail else what,
        summary=_text(body, "message") or _text(body, "description") or "",
        service=project,
        environment=environment,
        level=level,
        labels=labels,
        links=_links(*_url_candidates(body)),
        starts_at=_at(envelope, received_at),
        ends_at=None,
        received_at=received_at,
        raw=raw,
    )


def _text(body: dict[str, Any], *path: str) -> str | None:
    """A non-empty string (or number) at `path` in an undocumented payload, else None."""
    value: Any = body
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = " ".join(str(value).split())
    return text or None


def _url_candidates(body: dict[str, Any]) -> list[tuple[str, str]]:
    links = body.get("links")
    found = (
        [(str(href), f"Vercel {name}") for name, href in links.items()]
        if isinstance(links, dict)
        else []
    )
    if url := _text(body, "url"):
        found.append((url, "Vercel"))
    return [(href, text) for href, text in found if href.startswith("https://")]


def _deployment_summary(deployment: Deployment) -> str:
    message = deployment.meta.get("githubCommitMessage") or deployment.meta.get(
        "gitlabCommitMessage"
    )
    parts = [f"https://{deployment.url}" if deployment.url else "", str(message or "")]
    return "\n".join(part for part in parts if part)


def _git_ref(meta: dict[str, Any]) -> str | None:
    for key in ("githubCommitRef", "gitlabCommitRef", "bitbucketCommitRef"):
        if isinstance(meta.get(key), str) and meta[key]:
            return str(meta[key])
    return None


def _at(envelope: Envelope, received_at: datetime) -> datetime:
    moment = envelope.createdAt or received_at
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _present(**fields: str | None) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value}


def _links(*candidates: tuple[str, str]) -> list[Link]:
    return [Link(href=href, text=text) for href, text in candidates if href]


SOURCE = VercelSource()
