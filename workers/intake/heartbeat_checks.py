"""The workers' side of heartbeats: beats fed by alerts, and the deadline check.

An alert the gateway classified as a heartbeat's beat (`Heartbeat.beat`) reaches the
intake like any other; here it is recorded as a beat and acknowledged in one step, and
opens no incident. Every worker's refresher runs `check` every few seconds: the
deadlines passed are claimed one by one in Redis (`core.heartbeats`), each claim
writing the miss's alert to the intake in the same step, so however many workers check
at once each miss is one alert, and one incident.
"""

from __future__ import annotations

import logging

from core import metrics
from core.handoff import HandoffEntry
from core.heartbeats import HeartbeatStore, Missed
from core.rules.model import HEARTBEAT_RULE
from workers.context import Context

log = logging.getLogger(__name__)


def is_beat(entry: HandoffEntry) -> bool:
    """Whether a hand-off entry is a heartbeat's beat (not the alert of its miss)."""
    return (
        entry.classification.rule.startswith(HEARTBEAT_RULE) and entry.alert.source != "heartbeat"
    )


def consume_beat(ctx: Context, entry: HandoffEntry, ack: tuple[str, str, str]) -> None:
    """Record a firing alert as its heartbeat's beat; acknowledge the entry either way."""
    name = entry.classification.rule.removeprefix(HEARTBEAT_RULE)
    heartbeat = ctx.policy.heartbeats.get(name)
    store = HeartbeatStore(ctx.redis, ctx.prefix)
    if heartbeat is None or entry.alert.status != "firing":
        # a resolve of the feeding alert, or a heartbeat the rules no longer declare
        stream, group, entry_id = ack
        with ctx.redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, group, entry_id)
            pipe.xdel(stream, entry_id)
            pipe.execute()
        return
    outcome = store.beat(heartbeat, entry.alert.received_at, ack)
    metrics.heartbeat_beats.labels(name, "alert").inc()
    if outcome in ("armed", "restored"):
        log.info("heartbeat %s %s by %s", name, outcome, entry.alert.fingerprint)


def check(ctx: Context) -> list[Missed]:
    """Claim the heartbeat deadlines passed by now; each miss goes to the intake."""
    missed = HeartbeatStore(ctx.redis, ctx.prefix).expire_due(ctx.policy, ctx.clock())
    for miss in missed:
        if miss.first:
            metrics.heartbeat_misses.labels(miss.name).inc()
            log.warning("heartbeat %s missed its deadline", miss.name)
    return missed
