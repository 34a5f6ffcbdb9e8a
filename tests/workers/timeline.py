"""A timeline of one alert for rule-level behaviour tests (hold-down, flap damping)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import redis

from core.models import Status
from core.rules.model import Rule
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, entry, hand_off, policy


@contextmanager
def harness_with(client: redis.Redis, prefix: str, *rules: Rule) -> Iterator[Harness]:
    """A worker harness whose policy is the example one plus `rules`."""
    made = make_harness(client, prefix, policy(rules=rules))
    try:
        yield made
    finally:
        _forget_jobs(made)


def at(h: Harness, minutes: float, status: Status | None = None) -> None:
    """Move to T0 + minutes; the alert (checkout's `am:1`) fires or resolves then if
    `status` says so; then run whatever is due."""
    h.clock.now = T0 + timedelta(minutes=minutes)
    if status is not None:
        hand_off(h.ctx.redis, h.ctx.prefix, entry(status=status, received_at=h.clock.now))
    h.run_due()
