from __future__ import annotations

from gateway.handoff import stream_key
from tests.workers.conftest import Harness
from tests.workers.helpers import entry, hand_off
from workers.intake import GROUP, Intake

KEY = "checkout-down:service=checkout"


def test_reads_the_most_severe_stream_first(harness: Harness):
    hand_off(
        harness.ctx.redis,
        harness.ctx.prefix,
        entry(fingerprint="a", severity="SEV4", key="low"),
        entry(fingerprint="b", severity="SEV1", key="high"),
    )
    harness.intake.poll(block=False)
    incidents = sorted(harness.ctx.store.list(now=harness.clock.now), key=lambda i: i.opened_at)
    assert {i.key for i in incidents} == {"low", "high"}
    order = [f[b"key"].decode() for _, f in harness.ctx.redis.xrange(harness.ctx.store.changes_key)]
    assert order == ["high", "low"]


def test_entries_of_a_dead_consumer_are_claimed_and_applied_once(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    stream = stream_key(harness.ctx.prefix, "SEV1")
    # a consumer reads the entry, then dies before applying it
    harness.ctx.redis.xreadgroup(GROUP, "dead", {stream: ">"})
    assert harness.intake.drain() == 0  # claim_idle not reached: still the dead one's
    rescuer = Intake(harness.ctx, "rescuer", claim_idle_ms=0, claim_every=0)
    rescuer.drain()
    harness.run_queued()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert harness.ctx.redis.xpending(stream, GROUP)["pending"] == 0


def test_a_worker_dying_between_transition_and_enqueue_loses_no_page(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    # the transition ran (the incident is open) ...
    harness.intake._handle(stream_key(harness.ctx.prefix, "SEV1"), _read(harness, "SEV1"))
    # ... and the change it wrote was taken by a worker that died before enqueueing
    harness.ctx.redis.xreadgroup(GROUP, "dead", {harness.ctx.store.changes_key: ">"})
    assert harness.ctx.queue.count == 0
    rescuer = Intake(harness.ctx, "rescuer", claim_idle_ms=0, claim_every=0)
    rescuer.drain()
    harness.run_queued()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    # dispatching the same change again (a slow consumer's copy) makes no second job
    rescuer.drain()
    assert harness.run_queued() == 0


def test_an_unreadable_entry_is_dropped(harness: Harness):
    harness.ctx.redis.xadd(stream_key(harness.ctx.prefix, "SEV2"), {"e": b"not json"})
    assert harness.intake.drain() == 1
    assert harness.ctx.redis.xlen(stream_key(harness.ctx.prefix, "SEV2")) == 0


def _read(harness: Harness, severity: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    stream = stream_key(harness.ctx.prefix, severity)  # type: ignore[arg-type]
    reply = harness.ctx.redis.xreadgroup(GROUP, "c", {stream: ">"})
    return reply[0][1]
