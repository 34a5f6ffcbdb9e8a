"""Keeps a worker's view of shared state fresh: gauges read from Redis, rules reloaded.

Gauges that describe shared state (open incidents, dead letters, intake lag) are read
from Redis every few seconds, so every worker process exports the same truth and a
Prometheus query can take `max` across them. The rule files are checked for changes at
the same pace and reloaded (an invalid set is rejected; the last good one stays).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from redis.exceptions import RedisError

from alertgw import metrics
from gateway.handoff import stream_key
from gateway.models import SEVERITIES
from workers.context import Context

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0


class Refresher:
    """Refreshes gauges and reloads changed rule files, every REFRESH_SECONDS."""

    def __init__(self, ctx: Context, every: float = REFRESH_SECONDS) -> None:
        self.ctx = ctx
        self.every = every
        self._stamp = self._rules_stamp()

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            try:
                self.refresh()
            except RedisError as error:
                log.warning("cannot refresh gauges from Redis: %s", type(error).__name__)
            self.reload_if_changed()

    def refresh(self) -> None:
        """Set the shared-state gauges from Redis."""
        ctx = self.ctx
        for severity, count in ctx.store.count_open(ctx.clock()).items():
            metrics.incidents_open.labels(severity).set(count)
        metrics.dead_letters.set(ctx.dead_letters.count())
        with ctx.redis.pipeline(transaction=False) as pipe:
            for severity in SEVERITIES:
                pipe.xlen(stream_key(ctx.prefix, severity))
            lags = pipe.execute()
        for severity, lag in zip(SEVERITIES, lags, strict=True):
            metrics.intake_lag.labels(severity).set(lag)

    def reload_if_changed(self) -> bool:
        """Reload the rules when a rule file changed since the last look."""
        stamp = self._rules_stamp()
        if stamp == self._stamp or self.ctx.reload is None:
            return False
        self._stamp = stamp
        return self.ctx.reload()

    def _rules_stamp(self) -> tuple[tuple[str, float], ...]:
        path = Path(self.ctx.settings.rules)
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        return tuple((str(f), f.stat().st_mtime) for f in files if f.exists())
