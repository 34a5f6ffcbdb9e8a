"""Hold-down (`pending_for`) as timelines: alerts at virtual times in, exact pages out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from core.rules.model import Rule
from tests.workers.conftest import Harness
from tests.workers.timeline import at, harness_with

KEY = "checkout-down:service=checkout"
HELD = Rule("checkout-down", (), "SEV1", "standard", pending_for=timedelta(minutes=2))


@pytest.fixture
def h(redis_client: redis.Redis, key_prefix: str) -> Iterator[Harness]:
    with harness_with(redis_client, key_prefix, HELD) as made:
        yield made


def pages(h: Harness) -> list[tuple[str, str]]:
    return h.pagerduty.actions()


def timeline(h: Harness) -> list[str]:
    return [e.text for e in h.ctx.store.timeline(KEY)]


def test_a_resolve_inside_the_wait_sends_nothing_and_says_so(h: Harness):
    at(h, 0, "firing")
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    assert incident.status == "open"  # visible at once
    assert h.ctx.store.count_open(h.clock.now)["SEV1"] == 1  # and counted
    assert "pending: step 1 at 10:02:00 UTC unless resolved by then (pending_for 2m)" in timeline(h)
    at(h, 1, "resolved")
    at(h, 30)
    assert pages(h) == []
    assert h.slack.sent == []
    assert timeline(h)[-1] == "resolved while pending: nothing was sent"
    assert timeline(h).count("resolved while pending: nothing was sent") == 1


def test_still_firing_after_the_wait_pages_then_and_escalates_from_then(h: Harness):
    at(h, 0, "firing")
    at(h, 1.99)
    assert pages(h) == []
    at(h, 2)
    assert pages(h) == [("trigger", "oncall")]
    assert [n.action for n in h.slack.sent] == ["trigger"]
    at(h, 6.99)
    assert pages(h) == [("trigger", "oncall")]
    at(h, 7)  # step 2, its wait (5m) counted from when step 1 went out
    assert pages(h) == [("trigger", "oncall"), ("trigger", "eng-lead")]
    at(h, 8, "resolved")
    assert sorted(pages(h)[2:]) == [("resolve", "eng-lead"), ("resolve", "oncall")]
    assert "resolved while pending: nothing was sent" not in timeline(h)


def test_a_repeat_inside_the_wait_joins_and_pages_once(h: Harness):
    at(h, 0, "firing")
    at(h, 0.5, "firing")
    at(h, 1.5, "firing")
    at(h, 4)
    assert pages(h) == [("trigger", "oncall")]


def test_an_acknowledgement_inside_the_wait_stops_the_page(h: Harness):
    at(h, 0, "firing")
    h.ctx.store.acknowledge(KEY, "jane", "", h.clock.now)
    at(h, 30)
    assert pages(h) == []


def test_a_blip_that_comes_back_waits_again_from_its_new_start(h: Harness):
    at(h, 0, "firing")
    at(h, 1, "resolved")
    at(h, 1.5, "firing")  # a new incarnation: its own wait, until 3.5
    at(h, 3.4)
    assert pages(h) == []
    at(h, 3.5)
    assert pages(h) == [("trigger", "oncall")]


def test_rules_without_pending_for_page_at_once(redis_client: redis.Redis, key_prefix: str):
    with harness_with(redis_client, key_prefix) as h:
        at(h, 0, "firing")
        assert pages(h) == [("trigger", "oncall")]
