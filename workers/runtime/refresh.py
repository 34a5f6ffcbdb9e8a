"""Keeps a worker's view of shared state fresh: gauges read from Redis, rules reloaded.

Gauges that describe shared state (open incidents, dead letters, intake lag) are read
from Redis as each scrape begins (`core.metrics.RefreshingRegistry`), so every
process exports the same truth and a Prometheus query can take `max` across them. The
rule files are checked for changes every few seconds and reloaded (an invalid set is
rejected; the last good one stays), reminder and auto-resolve sweeps are made sure of
(after a restart, the chain of sweeps picks up what Redis holds), and the heartbeat
deadlines are checked (`workers.intake.heartbeat_checks`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from redis.exceptions import RedisError

from core.gauges import refresh_shared_gauges
from workers import jobs
from workers.context import Context
from workers.escalation import reminders
from workers.incidents import autoresolve
from workers.intake import heartbeat_checks

log = logging.getLogger(__name__)


REFRESH_SECONDS = 5.0


class Refresher:
    """Every REFRESH_SECONDS: reloads changed rule files, makes sure reminder and
    auto-resolve sweeps are coming (`keep_sweeping`), checks the heartbeat deadlines and
    replays the dead letters the console asked for. Refreshes the gauges when asked."""

    def __init__(self, ctx: Context, every: float = REFRESH_SECONDS) -> None:
        self.ctx = ctx
        self.every = every
        self._stamp = self._rules_stamp()

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            self.reload_if_changed()
            try:
                reminders.keep_sweeping(self.ctx)
                autoresolve.keep_sweeping(self.ctx)
            except RedisError as error:  # Redis away for a while: look again next time
                log.warning("could not check the sweeps: %s", type(error).__name__)
            try:
                heartbeat_checks.check(self.ctx)
            except RedisError as error:
                log.warning("could not check the heartbeats: %s", type(error).__name__)
            try:
                jobs.replay_requested(self.ctx)  # dead letters the console asked to replay
            except RedisError as error:
                log.warning("could not replay dead letters: %s", type(error).__name__)

    def refresh(self) -> None:
        """Set the shared-state gauges from Redis (the metrics server calls it per scrape)."""
        ctx = self.ctx
        refresh_shared_gauges(ctx.redis, ctx.prefix, ctx.store, ctx.dead_letters, ctx.clock())

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
