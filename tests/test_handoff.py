"""The hand-off: classified alerts land in Redis in one atomic step, or not at all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
import redis
import redis.asyncio as aioredis

from core.handoff import HandoffEntry, decode_entry, stream_key, stream_keys
from core.models import Alert, Severity
from core.rules.model import Classification
from gateway.exceptions import HandoffUnavailable
from gateway.handoff_writer import MAX_BATCH_ENTRIES, Handoff

NOW = datetime(2026, 3, 2, 10, 41, tzinfo=UTC)


def entry(fingerprint: str, severity: Severity) -> HandoffEntry:
    alert = Alert(
        source="alertmanager",
        fingerprint=fingerprint,
        status="firing",
        title="HighErrorRate",
        level="critical",
        labels={"alertname": "HighErrorRate"},
        starts_at=NOW,
        received_at=NOW,
        raw={"labels": {"alertname": "HighErrorRate"}},
    )
    classification = Classification(
        severity=severity, rule="r", escalation="standard", incident_key=f"r:{fingerprint}"
    )
    return HandoffEntry(alert=alert, classification=classification)


@contextlib.asynccontextmanager
async def handoff_to(
    url: str, prefix: str, client_class: type[aioredis.Redis] = aioredis.Redis
) -> AsyncIterator[Handoff]:
    """A Handoff on its own client, closed after."""
    client = client_class.from_url(url)
    try:
        yield Handoff(client, prefix)
    finally:
        await client.aclose()


def put(
    url: str, prefix: str, entries: list[HandoffEntry], delivery: tuple[str, str] | None = None
) -> bool:
    async def go() -> bool:
        async with handoff_to(url, prefix) as handoff:
            return await handoff.put(entries, delivery=delivery)

    return asyncio.run(go())


def test_each_entry_goes_to_the_stream_of_its_severity(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    assert put(
        redis_url, key_prefix, [entry("am:1", "SEV1"), entry("am:2", "SEV3"), entry("am:3", "SEV1")]
    )

    sev1 = redis_client.xrange(stream_key(key_prefix, "SEV1"))
    sev3 = redis_client.xrange(stream_key(key_prefix, "SEV3"))
    assert [decode_entry(fields).alert.fingerprint for _, fields in sev1] == ["am:1", "am:3"]
    assert [decode_entry(fields).alert.fingerprint for _, fields in sev3] == ["am:2"]
    assert redis_client.xlen(stream_key(key_prefix, "SEV2")) == 0
    decoded = decode_entry(sev1[0][1])
    assert decoded == entry("am:1", "SEV1")  # nothing lost on the way, raw included


def test_streams_are_listed_most_severe_first(key_prefix: str) -> None:
    assert stream_keys(key_prefix) == [f"{key_prefix}intake:SEV{n}" for n in (1, 2, 3, 4)]


def test_a_redelivery_with_the_same_id_writes_nothing(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    assert put(redis_url, key_prefix, [entry("vercel:p:production", "SEV2")], ("vercel", "dlv_1"))
    assert not put(
        redis_url, key_prefix, [entry("vercel:p:production", "SEV2")], ("vercel", "dlv_1")
    )
    assert put(redis_url, key_prefix, [entry("vercel:p:production", "SEV2")], ("vercel", "dlv_2"))

    assert redis_client.xlen(stream_key(key_prefix, "SEV2")) == 2
    assert 0 < redis_client.ttl(f"{key_prefix}delivery:vercel:dlv_1") <= 3 * 24 * 3600


def test_unreachable_redis_raises_handoff_unavailable(key_prefix: str) -> None:
    with pytest.raises(HandoffUnavailable, match="cannot reach Redis"):
        put("redis://127.0.0.1:1/0", key_prefix, [entry("am:1", "SEV1")])


class CountingRedis(aioredis.Redis):
    """A real client that counts its EVAL round trips, the entries each carried and how
    many were on the wire at once."""

    evals = 0
    sizes: ClassVar[list[int]] = []
    on_the_wire = 0
    most_on_the_wire = 0

    @classmethod
    def reset(cls) -> None:
        cls.evals, cls.sizes, cls.on_the_wire, cls.most_on_the_wire = 0, [], 0, 0

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:  # type: ignore[override]
        cls = type(self)
        cls.evals += 1
        cls.sizes.append(sum(1 for key in keys_and_args[:numkeys] if ":intake:" in key))
        cls.on_the_wire += 1
        cls.most_on_the_wire = max(cls.most_on_the_wire, cls.on_the_wire)
        try:
            return await super().eval(script, numkeys, *keys_and_args)
        finally:
            cls.on_the_wire -= 1


def test_concurrent_requests_go_in_one_script_call_and_each_gets_its_own_answer(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    redis_client.set(f"{key_prefix}delivery:vercel:dlv_old", "1")  # taken before

    async def go() -> list[bool]:
        async with handoff_to(redis_url, key_prefix, CountingRedis) as handoff:
            return await asyncio.gather(
                handoff.put([entry("am:1", "SEV1"), entry("am:2", "SEV4")]),
                handoff.put([entry("v:1", "SEV2")], delivery=("vercel", "dlv_old")),
                handoff.put([entry("v:2", "SEV2")], delivery=("vercel", "dlv_new")),
                handoff.put([entry("v:2", "SEV2")], delivery=("vercel", "dlv_new")),
                handoff.put([entry("am:3", "SEV1")]),
            )

    CountingRedis.reset()
    assert asyncio.run(go()) == [True, False, True, False, True]

    assert CountingRedis.evals == 1  # one round trip carried all five requests
    written = {
        severity: [
            decode_entry(f).alert.fingerprint
            for _, f in redis_client.xrange(stream_key(key_prefix, severity))
        ]
        for severity in ("SEV1", "SEV2", "SEV4")
    }
    assert written == {"SEV1": ["am:1", "am:3"], "SEV2": ["v:2"], "SEV4": ["am:2"]}


def test_a_request_cancelled_before_its_batch_went_writes_nothing(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        async with handoff_to(redis_url, key_prefix) as handoff:
            first = asyncio.ensure_future(handoff.put([entry("am:1", "SEV1")]))
            await asyncio.sleep(0)  # the first batch is on the wire now
            gone = asyncio.ensure_future(handoff.put([entry("am:2", "SEV1")]))
            await asyncio.sleep(0)  # queued for the next batch
            gone.cancel()
            assert await first
            with pytest.raises(asyncio.CancelledError):
                await gone
            assert await handoff.put([entry("am:3", "SEV1")])

    asyncio.run(go())

    stream = redis_client.xrange(stream_key(key_prefix, "SEV1"))
    assert [decode_entry(fields).alert.fingerprint for _, fields in stream] == ["am:1", "am:3"]


def test_a_backlog_goes_in_capped_batches_one_at_a_time_in_arrival_order(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    # 12 webhooks of 100 alerts each (MAX_BATCH_ENTRIES is 256): no script call carries
    # more than 2 of them, and they land in the order they came.
    async def go() -> list[bool]:
        async with handoff_to(redis_url, key_prefix, CountingRedis) as handoff:
            return await asyncio.gather(
                *(
                    handoff.put([entry(f"am:{r}:{i}", "SEV4") for i in range(100)])
                    for r in range(12)
                )
            )

    CountingRedis.reset()
    assert asyncio.run(go()) == [True] * 12

    assert sum(CountingRedis.sizes) == 1200
    assert max(CountingRedis.sizes) == 200
    assert CountingRedis.most_on_the_wire == 1
    stream = redis_client.xrange(stream_key(key_prefix, "SEV4"))
    written = [decode_entry(fields).alert.fingerprint for _, fields in stream]
    assert written == [f"am:{r}:{i}" for r in range(12) for i in range(100)]


def test_a_request_larger_than_a_batch_goes_whole(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    # one request is one atomic step, however many alerts it carries
    async def go() -> bool:
        async with handoff_to(redis_url, key_prefix, CountingRedis) as handoff:
            return await handoff.put(
                [entry(f"am:{i}", "SEV4") for i in range(MAX_BATCH_ENTRIES + 44)]
            )

    CountingRedis.reset()
    assert asyncio.run(go())

    assert CountingRedis.sizes == [MAX_BATCH_ENTRIES + 44]
    assert redis_client.xlen(stream_key(key_prefix, "SEV4")) == MAX_BATCH_ENTRIES + 44


def test_hand_offs_one_after_another_each_go_at_once(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    # A request that arrives just as the last batch's sender finishes must start a new
    # one, not wait for a sender that is already gone.
    async def go() -> None:
        async with handoff_to(redis_url, key_prefix) as handoff:
            async with asyncio.timeout(5):  # a timeout that runs put() in this task
                for i in range(20):
                    assert await handoff.put([entry(f"am:{i}", "SEV4")])

    asyncio.run(go())

    assert redis_client.xlen(stream_key(key_prefix, "SEV4")) == 20
