"""The hand-off stream format, shared by the gateway that writes it and the workers that
read it: one Redis Stream per severity (`<prefix>intake:SEV1` ... `SEV4`), each entry one
classified alert (`HandoffEntry`), and the "seen this delivery id" marker keys. The
gateway's writer is gateway/handoff_writer.py; the workers read the streams through a
consumer group, SEV1 first.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.models import SEVERITIES, Alert, Severity
from core.rules.model import Classification

ENTRY_FIELD = "e"
# How long a delivery id is remembered: longer than any vendor retries a delivery
# (PagerDuty retries for up to 48 h).
DELIVERY_ID_TTL_SECONDS = 3 * 24 * 3600


class HandoffEntry(BaseModel):
    """One classified alert as it travels from the gateway to the workers."""

    model_config = ConfigDict(frozen=True)

    alert: Alert
    classification: Classification
    # Every incident key the gateway classified this alert into (more than one with
    # `continue: true`): the worker keeps the alert in its own incidents even when its
    # fingerprint also lives in a sibling's, without classifying it a second time.
    siblings: tuple[str, ...] = ()


# bytes straight from pydantic-core, for the writer
ENTRY_JSON = HandoffEntry.__pydantic_serializer__


def stream_key(prefix: str, severity: Severity) -> str:
    """The intake stream of one severity."""
    return f"{prefix}intake:{severity}"


def stream_keys(prefix: str) -> list[str]:
    """All intake streams, most severe first: the order workers read them in."""
    return [stream_key(prefix, s) for s in SEVERITIES]


def delivery_key(prefix: str, source: str, delivery_id: str) -> str:
    return f"{prefix}delivery:{source}:{delivery_id}"


def decode_entry(fields: dict[bytes, bytes]) -> HandoffEntry:
    """Decode one stream entry (written by the gateway's `Handoff.put`)."""
    return HandoffEntry.model_validate_json(fields[ENTRY_FIELD.encode()])
