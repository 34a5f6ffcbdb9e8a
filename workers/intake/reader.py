"""Intake: read the hand-off in severity order and apply each alert to its incident.

At-least-once: entries are read through a consumer group; one that a dead worker had
taken stays pending and is claimed by another (XAUTOCLAIM) once idle for
`claim_idle_ms` (ALERTGW_CLAIM_IDLE_SECONDS). Applying an entry and acknowledging it is
one Lua step (`core.incidents.transitions`), so it happens at most once as well.

The same loop dispatches the `changes` stream (the outbox every transition writes) into
RQ jobs with deterministic ids, so a worker dying between a transition and the enqueue
loses nothing: the change stays in the stream (or pending) and is dispatched again.

Priority: SEV1/SEV2 entries are read first, up to BATCH at a time, and the change each
one makes is dispatched right after it is applied, not in arrival order behind the SEV3/
SEV4 changes (see `_dispatch_now`). SEV3/SEV4 entries and the changes stream are read a
SLICE at a time, with a look at the urgent streams before every slice, so a SEV1 that
arrives during a backlog waits for at most one slice of lesser work. A SEV1 that arrives
while a batch of SEV2 (or claimed) entries is being applied waits for at most
PREEMPT_EVERY of them: the batch looks at the SEV1 stream that often.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pydantic import ValidationError
from redis.exceptions import ResponseError

from core import metrics
from core.handoff import decode_entry, stream_keys
from core.incidents.store import Applied
from workers import jobs
from workers.context import URGENT, Context
from workers.escalation import flapping
from workers.intake import heartbeat_checks

log = logging.getLogger(__name__)

GROUP = "workers"  # consumer group on the intake streams and the changes stream
CLAIM_IDLE_MS = 30_000  # an entry idle this long belonged to a worker that died
BATCH = 100  # urgent entries (and claimed ones) per read
# SEV3/SEV4 entries and changes per read: a SEV1 arriving meanwhile waits for one slice
# (4 -> 2 halved the wait, 1 cost a third of the SEV4 drain rate: bench/bench_priority.py)
SLICE = 2
# During a SEV1/SEV2 flood the other streams (acknowledgements in the changes stream
# among them) still get a slice at least this often.
SLICE_EVERY_SECONDS = 1.0
# While a batch of anything but SEV1 is applied, the SEV1 stream is read every this many
# entries: a SEV2 flood's batch (each opening an incident, its first step run inline)
# held a SEV1 behind up to BATCH of them. One more read per this many entries.
PREEMPT_EVERY = 8

Entries = list[tuple[bytes, dict[bytes, bytes]]]

# The change each apply outcome writes to the outbox (core.incidents.transitions): action, by.
CHANGE_OF: dict[str, tuple[str, str]] = {
    "opened": ("opened", ""),
    "raised": ("severity_raised", ""),
    "resolved": ("resolve", "source"),
}

# KEYS: changes stream. ARGV: group, key, inc, version, action, how many entries to look at.
# Deletes the newest change with those fields if no consumer has been handed it yet (an
# entry in the stream that is not pending was never delivered: the dispatcher acks and
# deletes in one step), so nobody dispatches it a second time. 1 when deleted, else 0.
FORGET_DISPATCHED = """
local wanted = {key = ARGV[2], inc = ARGV[3], version = ARGV[4], action = ARGV[5]}
for _, entry in ipairs(redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[6])) do
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  if f.key == wanted.key and f.inc == wanted.inc and f.version == wanted.version
      and f.action == wanted.action then
    if #redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1) > 0 then return 0 end
    return redis.call('XDEL', KEYS[1], entry[1])
  end
end
return 0
"""
FORGET_DEPTH = 64  # changes written since ours, by every worker, in a few ms: a handful


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
        self.urgent = self.streams[: len(URGENT)]  # stream_keys is in severity order
        self.top = self.streams[0]  # SEV1
        self.changes = ctx.store.changes_key
        self._last_claim = -claim_every
        self._last_slice = -SLICE_EVERY_SECONDS
        self._forget = ctx.redis.register_script(FORGET_DISPATCHED)

    def ensure_groups(self) -> None:
        """Create the consumer groups (and streams) if they do not exist yet."""
        for stream in [*self.streams, self.changes]:
            try:
                self.ctx.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def poll(self, block: bool = True) -> int:
        """Take one turn (claimed entries first); returns how many entries it handled.

        A turn is the urgent entries waiting, if any; else (and at least once a
        second) one slice of every stream, blocking (when `block` and nothing was
        handled) until something arrives.
        """
        handled = 0
        # real time, not ctx.clock: XAUTOCLAIM's idle time is Redis's real time too
        now = time.monotonic()
        if now - self._last_claim >= self.claim_every:
            self._last_claim = now
            handled += self._claim()
        # urgent alone: during a SEV1/SEV2 flood this never reads the changes stream,
        # where another worker's urgent change waits only while it is being dispatched
        handled += self._read(self.urgent, BATCH, None)
        if handled and now - self._last_slice < SLICE_EVERY_SECONDS:
            return handled
        self._last_slice = now
        block_ms = self.block_ms if block and not handled else None
        # the urgent streams too, so a blocked read wakes for a SEV1 at once
        return handled + self._read([*self.streams, self.changes], SLICE, block_ms)

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

    def _read(self, streams: list[str], count: int, block_ms: int | None) -> int:
        wanted: dict[Any, Any] = dict.fromkeys(streams, ">")
        reply: Any = self.ctx.redis.xreadgroup(
            GROUP, self.consumer, wanted, count=count, block=block_ms
        )
        batches = {_text(stream): entries for stream, entries in (reply or [])}
        # most severe first, the changes stream last (it is listed last)
        return sum(self._handle(stream, batches.get(stream, [])) for stream in streams)

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
        preempted = 0
        for done, (entry_id, fields) in enumerate(entries, 1):
            handle(stream, _text(entry_id), fields)
            if done % PREEMPT_EVERY == 0 and stream != self.top and done < len(entries):
                preempted += self._read([self.top], BATCH, None)  # a SEV1 waiting goes first
        return len(entries) + preempted

    def _apply(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        try:
            entry = decode_entry(fields)
        except (KeyError, ValidationError):
            log.error("dropping an unreadable hand-off entry %s in %s", entry_id, stream)
            self._done(stream, entry_id)
            return
        alert, ctx = entry.alert, self.ctx
        if heartbeat_checks.is_beat(entry):
            heartbeat_checks.consume_beat(ctx, entry, (stream, GROUP, entry_id))
            return
        if flapping.record(ctx, entry, (stream, GROUP, entry_id)):
            return  # a resolve held while its incident flaps
        # the incidents this alert belongs to by the rules (several with `continue: true`),
        # as the gateway classified it: its fingerprint living in one of them is no reason
        # to leave its own
        siblings = list(entry.siblings) if alert.status == "firing" else []
        applied = ctx.store.apply(entry, stream, GROUP, entry_id, ctx.clock(), siblings)
        if applied.outcome == "joined":
            metrics.alerts_deduplicated.labels(alert.source).inc()
        log.debug("%s %s", applied.outcome, alert.fingerprint, extra={"incident": applied.key})
        if applied.severity in URGENT and applied.outcome in CHANGE_OF:
            self._dispatch_now(applied)

    def _dispatch_now(self, applied: Applied) -> None:
        """Dispatch the change an urgent apply just wrote, ahead of the outbox's backlog.

        The change stays in the outbox until it is dispatched: a worker dying here leaves
        it for the next reader. Then it is deleted, unless a reader took it meanwhile (it
        dispatches it again: deterministic job ids and sent markers make that a no-op).
        """
        action, by = CHANGE_OF[applied.outcome]
        version = str(applied.version)
        jobs.enqueue_change(self.ctx, applied.key, applied.inc, applied.version, action, by, "")
        args: list[str | int] = [GROUP, applied.key, applied.inc, version, action, FORGET_DEPTH]
        if not self._forget(keys=[self.changes], args=args):
            log.debug("change %s of %s left to the outbox", action, applied.key)

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
