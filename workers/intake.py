"""Intake: read the hand-off in severity order and apply each alert to its incident.

At-least-once: entries are read through a consumer group; one that a dead worker had
taken stays pending and is claimed by another (XAUTOCLAIM) once idle for
CLAIM_IDLE_MS. Applying an entry and acknowledging it is one Lua step
(`workers.transitions`), so it happens at most once as well.

The same loop dispatches the `changes` stream (the outbox every transition writes) into
RQ jobs with deterministic ids, so a worker dying between a transition and the enqueue
loses nothing: the change stays pending and is dispatched again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pydantic import ValidationError
from redis.exceptions import ResponseError

from alertgw import metrics
from gateway.handoff import decode_entry, stream_keys
from workers import jobs
from workers.context import Context

log = logging.getLogger(__name__)

GROUP = "workers"  # consumer group on the intake streams and the changes stream
CLAIM_IDLE_MS = 30_000  # an entry idle this long belonged to a worker that died
BATCH = 100

Entries = list[tuple[bytes, dict[bytes, bytes]]]


class Intake:
    """One consumer: applies hand-off entries, then dispatches the changes they made."""

    def __init__(
        self,
        ctx: Context,
        consumer: str,
        block_ms: int = 1000,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        claim_every: float = 5.0,
    ) -> None:
        self.ctx = ctx
        self.consumer = consumer
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.claim_every = claim_every
        self.streams = stream_keys(ctx.prefix)
        self.changes = ctx.store.changes_key
        self._last_claim = -claim_every

    def ensure_groups(self) -> None:
        """Create the consumer groups (and streams) if they do not exist yet."""
        for stream in [*self.streams, self.changes]:
            try:
                self.ctx.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def poll(self, block: bool = True) -> int:
        """Take one batch (claimed entries first); returns how many entries it handled."""
        handled = 0
        # real time, not ctx.clock: XAUTOCLAIM's idle time is Redis's real time too
        now = time.monotonic()
        if now - self._last_claim >= self.claim_every:
            self._last_claim = now
            handled += self._claim()
        wanted: dict[Any, Any] = dict.fromkeys([*self.streams, self.changes], ">")
        block_ms = self.block_ms if block and not handled else None
        reply: Any = self.ctx.redis.xreadgroup(
            GROUP, self.consumer, wanted, count=BATCH, block=block_ms
        )
        batches = {_text(stream): entries for stream, entries in (reply or [])}
        # most severe first, then the changes those entries just produced
        for stream in [*self.streams, self.changes]:
            handled += self._handle(stream, batches.get(stream, []))
        return handled

    def drain(self) -> int:
        """Handle everything waiting now (for `--burst` and tests)."""
        total = 0
        while handled := self.poll(block=False):
            total += handled
        return total

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set."""
        self.ensure_groups()
        while not stop.is_set():
            self.poll()

    def _claim(self) -> int:
        handled = 0
        for stream in [*self.streams, self.changes]:
            reply = self.ctx.redis.xautoclaim(
                stream, GROUP, self.consumer, self.claim_idle_ms, "0-0", count=BATCH
            )
            entries: Entries = [e for e in reply[1] if e[1]]
            if entries:
                log.warning("claimed %d entries of a stopped worker from %s", len(entries), stream)
            handled += self._handle(stream, entries)
        return handled

    def _handle(self, stream: str, entries: Entries) -> int:
        handle = self._dispatch if stream == self.changes else self._apply
        for entry_id, fields in entries:
            handle(stream, _text(entry_id), fields)
        return len(entries)

    def _apply(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        try:
            entry = decode_entry(fields)
        except (KeyError, ValidationError):
            log.error("dropping an unreadable hand-off entry %s in %s", entry_id, stream)
            self._done(stream, entry_id)
            return
        alert, ctx = entry.alert, self.ctx
        # the incidents this alert belongs to by the rules (several with `continue: true`),
        # as the gateway classified it: its fingerprint living in one of them is no reason
        # to leave its own
        siblings = list(entry.siblings) if alert.status == "firing" else []
        applied = ctx.store.apply(entry, stream, GROUP, entry_id, ctx.clock(), siblings)
        if applied.outcome == "joined":
            metrics.alerts_deduplicated.labels(alert.source).inc()
        log.debug("%s %s", applied.outcome, alert.fingerprint, extra={"incident": applied.key})

    def _dispatch(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        change = {_text(k): _text(v) for k, v in fields.items()}
        jobs.enqueue_change(
            self.ctx,
            change["key"],
            change["inc"],
            int(change["version"]),
            change["action"],
            change.get("by", ""),
            change.get("text", ""),
        )
        self._done(stream, entry_id)

    def _done(self, stream: str, entry_id: str) -> None:
        with self.ctx.redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            pipe.execute()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
