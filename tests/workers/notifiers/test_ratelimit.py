"""The shared limiter: a sliding window per identity, across clients, on a fake clock."""

from __future__ import annotations

import pytest
import redis

from workers.notifiers.ratelimit import RateLimiter


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(client: redis.Redis, prefix: str, clock: FakeClock, limit: int = 3) -> RateLimiter:
    return RateLimiter(client, prefix, "pagerduty", limit, window=60.0, clock=clock)


def test_allows_the_limit_then_says_how_long_to_wait(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = FakeClock()
    limit = limiter(redis_client, key_prefix, clock)
    assert [limit.acquire("key-a") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 10
    assert limit.acquire("key-a") == 50.0  # the first send leaves the window in 50 s


def test_the_window_slides(redis_client: redis.Redis, key_prefix: str) -> None:
    clock = FakeClock()
    limit = limiter(redis_client, key_prefix, clock)
    limit.acquire("k")
    clock.now += 30
    limit.acquire("k")
    limit.acquire("k")
    clock.now += 30  # the first send is exactly 60 s old: out of the window
    assert limit.acquire("k") == 0.0
    assert limit.acquire("k") == 30.0  # the next frees when the second send turns 60 s old


def test_a_refused_attempt_takes_no_slot(redis_client: redis.Redis, key_prefix: str) -> None:
    clock = FakeClock()
    limit = limiter(redis_client, key_prefix, clock, limit=1)
    limit.acquire("k")
    for _ in range(5):
        assert limit.acquire("k") == 60.0
    clock.now += 60
    assert limit.acquire("k") == 0.0


def test_identities_are_limited_separately(redis_client: redis.Redis, key_prefix: str) -> None:
    clock = FakeClock()
    limit = limiter(redis_client, key_prefix, clock, limit=1)
    assert limit.acquire("key-a") == 0.0
    assert limit.acquire("key-b") == 0.0
    assert limit.acquire("key-a") > 0


def test_processes_share_the_limit_through_redis(redis_url: str, key_prefix: str) -> None:
    clock = FakeClock()
    clients = [redis.Redis.from_url(redis_url) for _ in range(3)]
    try:
        limiters = [limiter(c, key_prefix, clock, limit=120) for c in clients]
        granted = sum(limiters[i % 3].acquire("k") == 0.0 for i in range(200))
    finally:
        for client in clients:
            client.close()
    assert granted == 120


def test_the_identity_is_hashed_in_the_key_and_the_log_expires(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    limit = limiter(redis_client, key_prefix, FakeClock())
    limit.acquire("R0UTINGKEY0123456789abcdef012345")
    keys = [k.decode() for k in redis_client.scan_iter(match=f"{key_prefix}*")]
    assert keys == [limit.key("R0UTINGKEY0123456789abcdef012345")]
    assert "R0UTINGKEY" not in keys[0]
    assert keys[0].startswith(f"{key_prefix}ratelimit:pagerduty:")
    assert 0 < redis_client.pttl(keys[0]) <= 60_000
    assert "R0UTINGKEY" not in repr(limit)


SEV1, SEV2 = 1e14, 2e14  # ranks: the severity first (workers.notifiers.pagerduty._turn)


@pytest.fixture
def full(redis_client: redis.Redis, key_prefix: str) -> tuple[RateLimiter, FakeClock]:
    """A limiter of 3 a minute whose window was filled now: the first slot frees in 60 s."""
    clock = FakeClock()
    limit = limiter(redis_client, key_prefix, clock)
    assert [limit.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    return limit, clock


def test_a_waiting_sev1_takes_the_next_slot_before_sev2s_that_waited_longer(
    full: tuple[RateLimiter, FakeClock],
) -> None:
    limit, clock = full
    assert limit.acquire("k", "sev2-a", SEV2 + 1) == 60.0  # waits, first in line
    assert limit.acquire("k", "sev2-b", SEV2 + 2) == 61.0  # behind sev2-a: a second more
    clock.now += 30
    assert limit.acquire("k", "sev1", SEV1) == 30.0  # the most urgent: the next slot is its
    clock.now += 30  # a slot is free: the SEV2s ask first, and wait
    assert limit.acquire("k", "sev2-a", SEV2 + 1) == 1.0
    assert limit.acquire("k", "sev2-b", SEV2 + 2) == 1.0
    assert limit.acquire("k", "sev1", SEV1) == 0.0
    # the next free slots go in order: the oldest SEV2 first, then the next
    assert limit.acquire("k", "sev2-b", SEV2 + 2) == 1.0
    assert limit.acquire("k", "sev2-a", SEV2 + 1) == 0.0
    assert limit.acquire("k", "sev2-b", SEV2 + 2) == 0.0


def test_a_resolve_never_goes_before_its_waiting_trigger(
    full: tuple[RateLimiter, FakeClock],
) -> None:
    limit, clock = full
    assert limit.acquire("k", "trigger", SEV2 + 10) > 0
    clock.now += 60
    assert limit.acquire("k", "resolve", SEV2 + 12) == 1.0  # its trigger waits: after it
    assert limit.acquire("k", "trigger", SEV2 + 10) == 0.0
    assert limit.acquire("k", "resolve", SEV2 + 12) == 0.0


def test_a_waiter_that_stops_asking_holds_back_nobody_for_long(
    full: tuple[RateLimiter, FakeClock],
) -> None:
    limit, clock = full
    assert limit.acquire("k", "gone", SEV1) > 0  # its worker dies: it never asks again
    clock.now += 60
    assert limit.acquire("k", "sev2", SEV2) == 1.0
    clock.now += 29
    assert limit.acquire("k", "sev2", SEV2) == 1.0
    clock.now += 1.5  # over 90 s since the SEV1 last asked: it is gone
    assert limit.acquire("k", "sev2", SEV2) == 0.0


def test_sends_without_a_ticket_keep_first_come_first_served(
    full: tuple[RateLimiter, FakeClock],
) -> None:
    limit, clock = full
    assert limit.acquire("k", "sev1", SEV1) == 60.0
    clock.now += 60
    assert limit.acquire("k") == 0.0  # no order asked for (callers that do not rank)
