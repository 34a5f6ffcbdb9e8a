"""The gauges of state every process shares (open incidents, flapping ones, alert storms,
postmortems pending and overdue, dead letters, intake lag), read from Redis as each scrape begins
(`core.metrics.RefreshingRegistry`): every gateway and worker process exports the same
truth, so a Prometheus query can take `max` across them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis

from core import metrics
from core.deadletters import DeadLetters
from core.handoff import stream_key
from core.incidents.store import IncidentStore
from core.models import SEVERITIES
from core.postmortems import PostmortemStore


def refresh_shared_gauges(
    client: redis.Redis, prefix: str, store: IncidentStore, dead: DeadLetters, now: datetime
) -> None:
    """Set the gauges of state all processes share (open incidents, flapping ones,
    postmortems pending and overdue, dead letters, intake lag) from Redis, so any
    process's scrape reports the truth at that moment."""
    for severity, count in store.count_open(now).items():
        metrics.incidents_open.labels(severity).set(count)
    pending = PostmortemStore(store).pending()
    for severity in SEVERITIES:
        due = [at for sev, at in pending if sev == severity]
        metrics.postmortems_pending.labels(severity).set(len(due))
        metrics.postmortems_overdue.labels(severity).set(sum(at <= now.timestamp() for at in due))
    metrics.dead_letters.set(dead.count())
    count_flapping(client, prefix)
    count_storms(client, prefix)
    with client.pipeline(transaction=False) as pipe:
        for severity in SEVERITIES:
            pipe.xlen(stream_key(prefix, severity))
        lags = pipe.execute()
    for severity, lag in zip(SEVERITIES, lags, strict=True):
        metrics.intake_lag.labels(severity).set(lag)


def flapping_index_key(prefix: str) -> str:
    """The incidents flapping now: key -> severity (for the gauge)."""
    return f"{prefix}flapping"


def count_flapping(client: Any, prefix: str) -> None:
    """Set `alertgw_incidents_flapping{severity}` from Redis (at each scrape)."""
    severities = [_text(s) for s in client.hvals(flapping_index_key(prefix))]
    for severity in SEVERITIES:
        metrics.incidents_flapping.labels(severity).set(severities.count(severity))


def storms_index_key(prefix: str) -> str:
    """The targets in an alert storm now: target -> storm incarnation (for the gauge)."""
    return f"{prefix}storms"


_storm_targets: set[str] = set()  # every target seen in a storm, so its gauge drops to 0


def count_storms(client: Any, prefix: str) -> None:
    """Set `alertgw_storm_active{target}` from Redis (at each scrape)."""
    active = {_text(t) for t in client.hkeys(storms_index_key(prefix))}
    _storm_targets.update(active)
    for target in _storm_targets:
        metrics.storm_active.labels(target).set(1 if target in active else 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
