"""Sending order per PagerDuty routing key under its limit, as a timeline on a virtual clock:
the real notifier and shared meter against the fake PagerDuty that enforces the limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from core.models import Severity
from tests.fakes.vendors import FakePagerDuty
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, SlackRecorder, entry, hand_off
from workers.notifiers.pagerduty import PagerDutyNotifier

LIMIT = 3  # events a minute per routing key, at alertgw's meter and at the fake vendor


@pytest.fixture
def h(redis_client: redis.Redis, key_prefix: str) -> Iterator[tuple[Harness, FakePagerDuty]]:
    holder: list[Harness] = []

    def now() -> float:
        return holder[0].clock.now.timestamp()

    with FakePagerDuty(limit_per_minute=LIMIT, clock=now) as pagerduty:
        notifier = PagerDutyNotifier(
            pagerduty.events_url, redis_client, key_prefix, clock=now, limit_per_minute=LIMIT
        )
        made = make_harness(redis_client, key_prefix, notifiers=[notifier, SlackRecorder()])
        holder.append(made)
        yield made, pagerduty
        _forget_jobs(made)
        notifier.close()


def fire(h: Harness, name: str, severity: Severity = "SEV3", status: str = "firing") -> None:
    e = entry(
        fingerprint=f"am:{name}",
        status=status,  # type: ignore[arg-type]
        severity=severity,
        key=name,
        received_at=h.clock.now,
    )
    hand_off(h.ctx.redis, h.ctx.prefix, e)
    h.run_due()


def at(h: Harness, seconds: float) -> None:
    h.clock.now = T0 + timedelta(seconds=seconds)
    h.run_due()
    h.run_due()


def sent(pagerduty: FakePagerDuty) -> list[tuple[str, str]]:
    """(action, incident) of every event PagerDuty accepted, in order."""
    return [(e["event_action"], e["dedup_key"]) for e in pagerduty.events()]


def test_a_sev1_waiting_for_a_slot_goes_before_sev3s_that_waited_longer(
    h: tuple[Harness, FakePagerDuty],
) -> None:
    harness, pagerduty = h
    for name in ("a", "b", "c", "d", "e"):  # 5 SEV3 pages: 3 go, 2 wait for a slot
        fire(harness, name)
    at(harness, 10)
    fire(harness, "sev1", severity="SEV1")  # the window is full: it waits too
    assert sent(pagerduty) == [("trigger", "a"), ("trigger", "b"), ("trigger", "c")]
    for second in range(50, 125):
        at(harness, second)
    order = sent(pagerduty)
    assert order[:4] == [("trigger", "a"), ("trigger", "b"), ("trigger", "c"), ("trigger", "sev1")]
    assert sorted(order[4:]) == [("trigger", "d"), ("trigger", "e")]
    assert pagerduty.events(accepted=False) == pagerduty.events()  # never a 429
    assert harness.ctx.dead_letters.count() == 0  # waiting for a turn is no failure


def test_an_incident_resolved_while_its_page_waits_pages_nobody(
    h: tuple[Harness, FakePagerDuty],
) -> None:
    harness, pagerduty = h
    for name in ("a", "b", "c", "d"):
        fire(harness, name)
    at(harness, 5)
    fire(harness, "d", status="resolved")  # d's trigger still waits for a slot
    for second in range(6, 200, 2):
        at(harness, second)
    # no trigger after the resolve (a PagerDuty incident nobody would resolve), no resolve
    # for a page that never went out
    assert sent(pagerduty) == [("trigger", "a"), ("trigger", "b"), ("trigger", "c")]
    texts = [e.text for e in harness.ctx.store.timeline("d")]
    assert "not paged: oncall (resolved before the page went out)" in texts
    assert harness.ctx.dead_letters.count() == 0


def test_an_acknowledgement_while_the_page_waits_pages_nobody_after_it(
    h: tuple[Harness, FakePagerDuty],
) -> None:
    harness, pagerduty = h
    for name in ("a", "b", "c", "d", "e"):
        fire(harness, name)
    at(harness, 5)
    assert harness.ctx.store.acknowledge("d", "jane", "on it", harness.clock.now)
    for second in range(6, 130, 2):
        at(harness, second)
    order = sent(pagerduty)
    assert order == [("trigger", "a"), ("trigger", "b"), ("trigger", "c"), ("trigger", "e")]
