"""The metrics registry a process serves: shared state is read at scrape time."""

from __future__ import annotations

from prometheus_client import generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError

from core import metrics
from core.metrics import RefreshingRegistry


def test_each_scrape_reads_the_shared_state_first() -> None:
    reads = []

    def refresh() -> None:
        reads.append(len(reads) + 1)
        metrics.dead_letters.set(len(reads) * 10)

    registry = RefreshingRegistry(refresh)
    first = generate_latest(registry).decode()
    second = generate_latest(registry).decode()

    assert reads == [1, 2]
    assert "alertgw_dead_letters 10.0" in first
    assert "alertgw_dead_letters 20.0" in second
    assert "alertgw_webhook_requests_total" in second  # and everything else, as usual


def test_a_scrape_still_answers_when_redis_is_down() -> None:
    metrics.dead_letters.set(3)

    def refresh() -> None:
        raise RedisConnectionError("Redis is down")

    text = generate_latest(RefreshingRegistry(refresh)).decode()
    assert "alertgw_dead_letters 3.0" in text  # the last value read
