"""The drill's world: Redis key expiry follows the virtual clock, not the machine's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import redis

from alertgw.drill.spec import DEFAULT_START
from alertgw.drill.world import world

RULES = Path(__file__).resolve().parent.parent / "scenarios" / "policies" / "two-paths.yaml"


def test_keys_under_the_prefix_age_with_the_virtual_clock(
    redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    other = f"{key_prefix}-not-the-drill's"  # outside the world's prefix: left alone
    redis_client.set(other, "1", ex=3600)
    with world(redis_url, f"{key_prefix}w:", RULES, DEFAULT_START) as running:
        redis_client.set(f"{key_prefix}w:window", "1", ex=3600)
        redis_client.set(f"{key_prefix}w:kept", "1")
        running.advance(DEFAULT_START + timedelta(minutes=30))
        assert 1700 <= redis_client.ttl(f"{key_prefix}w:window") <= 1800
        running.advance(DEFAULT_START + timedelta(minutes=61))
        assert not redis_client.exists(f"{key_prefix}w:window")
        assert redis_client.ttl(f"{key_prefix}w:kept") == -1
        assert running.clock() == DEFAULT_START + timedelta(minutes=61)
    assert redis_client.ttl(other) > 3500
