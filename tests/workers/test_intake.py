from __future__ import annotations

from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job

from core.handoff import decode_entry, stream_key
from core.models import Severity
from tests.workers.conftest import Harness
from tests.workers.helpers import entry, hand_off
from workers.intake import reader as intake_module
from workers.intake.reader import GROUP, PREEMPT_EVERY, SLICE, Intake

KEY = "checkout-down:service=checkout"


def noise(n: int) -> list[Any]:
    """`n` SEV4 alerts, each a new chat-only incident."""
    return [
        entry(f"am:n{i}", severity="SEV4", key=f"noise-{i}", escalation="chat-only", service="web")
        for i in range(n)
    ]


def queued_keys(harness: Harness) -> list[str]:
    return [str(Job.fetch(i, connection=harness.ctx.redis).args[0]) for i in _job_ids(harness)]


def _job_ids(harness: Harness) -> list[str]:
    return harness.ctx.queue.get_job_ids()


def outbox(harness: Harness) -> list[str]:
    rows = harness.ctx.redis.xrange(harness.ctx.store.changes_key)
    return [fields[b"key"].decode() for _, fields in rows]


def test_an_urgent_alert_is_applied_first_and_its_change_dispatched_at_once(harness: Harness):
    hand_off(
        harness.ctx.redis,
        harness.ctx.prefix,
        entry(fingerprint="a", severity="SEV4", key="low"),
        entry(fingerprint="b", severity="SEV1", key="high"),
    )
    harness.intake.poll(block=False)
    assert {i.key for i in harness.ctx.store.list(now=harness.clock.now)} == {"low", "high"}
    # the SEV1's change went to its job at once and left the outbox; the SEV4's waits there
    assert queued_keys(harness) == ["high"]
    assert outbox(harness) == ["low"]
    harness.intake.drain()
    assert queued_keys(harness) == ["high", "low"]
    assert outbox(harness) == []


def test_a_sev1_arriving_during_a_sev4_backlog_goes_before_most_of_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    redis, prefix, store = harness.ctx.redis, harness.ctx.prefix, harness.ctx.store
    hand_off(redis, prefix, *noise(200))
    applied: list[str] = []
    dispatched: list[str] = []
    apply, enqueue = store.apply, intake_module.jobs.enqueue_change

    def recording_apply(*args: Any, **kwargs: Any) -> Any:
        result = apply(*args, **kwargs)
        applied.append(result.key)
        if len(applied) == 2:  # the SEV1 arrives while the intake is busy with the noise
            hand_off(redis, prefix, entry(severity="SEV1", key=KEY))
        return result

    def recording_enqueue(ctx: Any, key: str, *args: Any) -> bool:
        dispatched.append(key)
        return enqueue(ctx, key, *args)

    monkeypatch.setattr(store, "apply", recording_apply)
    monkeypatch.setattr(intake_module.jobs, "enqueue_change", recording_enqueue)
    while KEY not in dispatched:
        assert harness.intake.poll(block=False), "the SEV1 was never dispatched"
    # applied after at most the rest of the slice in hand, and dispatched right after
    assert applied.index(KEY) <= SLICE
    assert dispatched.index(KEY) <= SLICE
    harness.intake.drain()
    assert len(applied) == len(dispatched) == 201
    assert len(set(dispatched)) == 201


def test_a_sev1_arriving_during_a_sev2_flood_waits_for_a_few_entries_not_the_batch(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    redis, prefix, store = harness.ctx.redis, harness.ctx.prefix, harness.ctx.store
    flood = [
        entry(f"am:f{i}", severity="SEV2", key=f"flood-{i}", escalation="chat-only")
        for i in range(3 * PREEMPT_EVERY)
    ]
    hand_off(redis, prefix, *flood)
    applied: list[str] = []
    apply = store.apply

    def recording_apply(*args: Any, **kwargs: Any) -> Any:
        result = apply(*args, **kwargs)
        applied.append(result.key)
        if len(applied) == 2:  # the SEV1 arrives while the intake applies the SEV2 batch
            hand_off(redis, prefix, entry(severity="SEV1", key=KEY))
        return result

    monkeypatch.setattr(store, "apply", recording_apply)
    assert harness.intake.poll(block=False) == len(flood) + 1  # one read of the batch
    # before, it waited for the whole batch (BATCH entries)
    assert applied.index(KEY) == PREEMPT_EVERY
    assert sorted(applied) == sorted([KEY, *(e.classification.incident_key for e in flood)])


def test_a_sev1_flood_still_lets_the_other_streams_through_once_a_second(harness: Harness):
    hand_off(
        harness.ctx.redis,
        harness.ctx.prefix,
        entry(fingerprint="a", severity="SEV4", key="low"),
        *[entry(fingerprint=f"s{i}", severity="SEV1", key=f"high-{i}") for i in range(3)],
    )
    harness.intake._last_slice = intake_module.time.monotonic()  # a slice just went by
    assert harness.intake.poll(block=False) == 3
    assert _stream_length(harness, "SEV4") == 1
    harness.intake._last_slice -= intake_module.SLICE_EVERY_SECONDS
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(fingerprint="s9", key="high-9"))
    assert harness.intake.poll(block=False) == 2  # the new SEV1, then the slice
    assert _stream_length(harness, "SEV4") == 0


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
    stream = stream_key(harness.ctx.prefix, "SEV1")
    ((entry_id, fields),) = _read(harness, "SEV1")
    harness.ctx.store.apply(decode_entry(fields), stream, GROUP, entry_id.decode(), harness.clock())
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


def test_an_urgent_change_whose_dispatch_failed_is_dispatched_from_the_outbox(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    enqueue = intake_module.jobs.enqueue_change

    def redis_gone(*args: Any) -> bool:
        raise RedisConnectionError("connection reset")

    monkeypatch.setattr(intake_module.jobs, "enqueue_change", redis_gone)
    with pytest.raises(RedisConnectionError):  # the runner waits for Redis and polls again
        harness.intake.poll(block=False)
    monkeypatch.setattr(intake_module.jobs, "enqueue_change", enqueue)
    assert outbox(harness) == [KEY]
    harness.intake.drain()
    harness.run_queued()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert outbox(harness) == []


def test_an_urgent_change_another_reader_took_meanwhile_is_dispatched_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    changes = harness.ctx.store.changes_key
    enqueue = intake_module.jobs.enqueue_change

    def raced(*args: Any) -> bool:
        # another worker reads the outbox while this one dispatches, then stalls
        assert harness.ctx.redis.xreadgroup(GROUP, "slow", {changes: ">"})
        return enqueue(*args)

    monkeypatch.setattr(intake_module.jobs, "enqueue_change", raced)
    harness.intake.poll(block=False)
    monkeypatch.setattr(intake_module.jobs, "enqueue_change", enqueue)
    assert outbox(harness) == [KEY]  # the reader's copy is not deleted under it
    rescuer = Intake(harness.ctx, "rescuer", claim_idle_ms=0, claim_every=0)
    rescuer.drain()  # the reader's copy, claimed: the same job id, so no second job
    assert harness.run_queued() == 1
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert outbox(harness) == []
    assert harness.ctx.redis.xpending(changes, GROUP)["pending"] == 0


def test_an_unreadable_entry_is_dropped(harness: Harness):
    harness.ctx.redis.xadd(stream_key(harness.ctx.prefix, "SEV2"), {"e": b"not json"})
    assert harness.intake.drain() == 1
    assert harness.ctx.redis.xlen(stream_key(harness.ctx.prefix, "SEV2")) == 0


def _stream_length(harness: Harness, severity: Severity) -> int:
    return int(harness.ctx.redis.xlen(stream_key(harness.ctx.prefix, severity)))


def _read(harness: Harness, severity: Severity) -> list[tuple[bytes, dict[bytes, bytes]]]:
    stream = stream_key(harness.ctx.prefix, severity)
    reply = harness.ctx.redis.xreadgroup(GROUP, "c", {stream: ">"})
    return reply[0][1]
