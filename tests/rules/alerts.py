"""Alerts for rule tests, built the way sources build them (canonical fields in labels)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.models import Alert

AT = datetime(2026, 3, 2, 10, 40, tzinfo=UTC)


def make_alert(
    labels: dict[str, str] | None = None, fingerprint: str = "am:0001", **fields: Any
) -> Alert:
    """A firing Alertmanager alert; `fields` override the canonical fields."""
    values: dict[str, Any] = {
        "source": "alertmanager",
        "fingerprint": fingerprint,
        "status": "firing",
        "title": "Test alert",
        "level": "error",
        "starts_at": AT,
        "received_at": AT,
        "labels": labels or {},
    }
    values.update(fields)
    return Alert(**values)
