"""Sentry: integration-platform webhooks and the legacy WebHooks plugin.

Integration webhooks name their kind in `Sentry-Hook-Resource` (`issue`, `event_alert`,
`metric_alert`, and others that are not alerts) and are signed: `Sentry-Hook-Signature`
is the hex HMAC-SHA256 of the raw body under the app's client secret
(ALERTGW_SENTRY_CLIENT_SECRET). The legacy plugin cannot sign and sends no resource
header; it authenticates with `?token=` (ALERTGW_SENTRY_LEGACY_TOKEN).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from core.models import Alert
from core.settings import Settings
from gateway.exceptions import BadPayload, Unauthorized
from gateway.sources.base import (
    UNAUTHORIZED,
    Delivery,
    any_equal,
    check_hmac,
    credentials,
    parse_json,
    validate,
)
from gateway.sources.sentry.normalize import (
    event_alerts,
    issue_alerts,
    legacy_alerts,
    metric_alerts,
)
from gateway.sources.sentry.payloads import (
    EventAlertWebhook,
    IssueWebhook,
    LegacyWebhook,
    MetricAlertWebhook,
)

RESOURCE_HEADER = "sentry-hook-resource"
SIGNATURE_HEADER = "sentry-hook-signature"
LEGACY = "legacy"

M = TypeVar("M", bound=BaseModel)
Normalizer = Callable[[Any, dict[str, Any], datetime], list[Alert]]


def _using(
    model: type[M], mapper: Callable[[M, dict[str, Any], datetime], list[Alert]]
) -> Normalizer:
    def run(payload: Any, raw: dict[str, Any], received_at: datetime) -> list[Alert]:
        return mapper(validate(model, payload), raw, received_at)

    return run


# Resources that carry alerts; any other (installation, comment, error, seer, ...) is
# accepted and produces none, so Sentry never sees an error for a subscription we ignore.
NORMALIZERS: dict[str, Normalizer] = {
    "issue": _using(IssueWebhook, issue_alerts),
    "event_alert": _using(EventAlertWebhook, event_alerts),
    "metric_alert": _using(MetricAlertWebhook, metric_alerts),
    LEGACY: _using(LegacyWebhook, legacy_alerts),
}


class SentrySource:
    """`POST /webhooks/sentry`."""

    name: Literal["sentry"] = "sentry"

    def verify(self, delivery: Delivery, settings: Settings) -> None:
        if _is_integration(delivery):
            secrets = credentials(settings, "sentry_client_secret")
            if secrets is not None:
                check_hmac(header(delivery, SIGNATURE_HEADER), delivery.body, secrets)
            return
        tokens = credentials(settings, "sentry_legacy_token")
        if tokens is not None and not any_equal(delivery.query.get("token", ""), tokens):
            raise Unauthorized(UNAUTHORIZED)

    def parse(self, delivery: Delivery) -> Any:
        return parse_json(delivery)

    def normalize(self, payload: Any, delivery: Delivery) -> list[Alert]:
        if not isinstance(payload, dict):
            raise BadPayload("body: Input should be a valid dictionary")
        normalizer = NORMALIZERS.get(resource_of(payload, delivery))
        if normalizer is None:
            return []
        return normalizer(payload, payload, delivery.received_at)

    def delivery_id(self, payload: Any, delivery: Delivery) -> str | None:
        # Sentry does not retry webhooks (it counts timeouts instead); alerts dedupe
        # per incident, so a repeated `Request-ID` needs no gateway-side memory.
        return None


def _is_integration(delivery: Delivery) -> bool:
    # Integration webhooks always carry both headers; a request with either is judged
    # by the signature, so a stolen legacy token cannot pass as a signed webhook.
    return bool(header(delivery, RESOURCE_HEADER) or header(delivery, SIGNATURE_HEADER))


def resource_of(payload: dict[str, Any], delivery: Delivery) -> str:
    """The kind of webhook: the resource header, else inferred from the body's shape.

    Inference lets `alertgw rules test` run a saved body without its headers.
    """
    resource = header(delivery, RESOURCE_HEADER)
    if resource:
        return resource.strip().lower()
    data = payload.get("data")
    if not isinstance(data, dict) or "action" not in payload:
        return LEGACY
    shapes = (("metric_alert", "metric_alert"), ("event", "event_alert"), ("issue", "issue"))
    # an integration body of another resource (installation, comment, ...): no alert
    return next((resource for key, resource in shapes if key in data), "other")


def header(delivery: Delivery, name: str) -> str:
    """A header by its lowercase name, also when the mapping is a plain dict (the CLI)."""
    value = delivery.headers.get(name)
    if value is None:
        value = next((v for k, v in delivery.headers.items() if k.lower() == name), "")
    return value


SOURCE = SentrySource()
