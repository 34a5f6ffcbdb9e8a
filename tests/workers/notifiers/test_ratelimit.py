"""The shared limiter: a sliding window per identity, across clients, on a fake clock."""

from __future__ import annotations

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
