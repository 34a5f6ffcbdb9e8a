"""Flap damping as timelines: an alert that keeps changing, the exact pages out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from prometheus_client import REGISTRY

from core.gauges import count_flapping
from core.rules.model import Flap, Rule
from tests.workers.conftest import Harness
from tests.workers.timeline import at, harness_with

KEY = "checkout-down:service=checkout"
FLAP = Flap(changes=4, within=timedelta(minutes=10), quiet=timedelta(minutes=15))
DAMPED = Rule("checkout-down", (), "SEV1", "standard", flap=FLAP)


@pytest.fixture
def h(redis_client: redis.Redis, key_prefix: str) -> Iterator[Harness]:
    with harness_with(redis_client, key_prefix, DAMPED) as made:
        yield made


def toggle(h: Harness, start: int, end: int) -> None:
    """The alert fires on even minutes and resolves on odd ones, from start to end."""
    for minute in range(start, end + 1):
        at(h, minute, "firing" if minute % 2 == 0 else "resolved")


def pages(h: Harness) -> list[tuple[str, str]]:
    return h.pagerduty.actions()


def notes(h: Harness) -> list[str]:
    return [n.text for n in h.slack.sent if n.action == "note"]


def flapping_gauge(h: Harness) -> float:
    count_flapping(h.ctx.redis, h.ctx.prefix)
    value = REGISTRY.get_sample_value("alertgw_incidents_flapping", {"severity": "SEV1"})
    assert value is not None
    return value


BEFORE_DAMPING = [  # 0 fire, 1 resolve, 2 fire, 3 resolve, 4 fire: pages as usual
    ("trigger", "oncall"),
    ("resolve", "oncall"),
    ("trigger", "oncall"),
    ("resolve", "oncall"),
    ("trigger", "oncall"),
]
STARTED = (
    "Flapping: 4 changes within 10m. Resolves are held and nothing pages again until "
    "15m without a change."
)


def test_flapping_for_an_hour_then_settling_firing_escalates_once(h: Harness):
    toggle(h, 0, 5)  # the resolve at 5 is the fifth change: it is held
    assert pages(h) == BEFORE_DAMPING
    assert notes(h) == [STARTED]
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    assert incident.status == "open"
    assert flapping_gauge(h) == 1
    toggle(h, 6, 60)  # an hour of flapping: no page, no trigger, no step
    assert pages(h) == BEFORE_DAMPING
    assert notes(h) == [STARTED]
    at(h, 74.9)
    assert pages(h) == BEFORE_DAMPING
    at(h, 75)  # 15m after the last change (firing at 60): escalation resumes, step 2 is due
    assert pages(h) == [*BEFORE_DAMPING, ("trigger", "eng-lead")]
    assert notes(h) == [STARTED, "Flapping stopped: no change for 15m; final state firing"]
    assert flapping_gauge(h) == 0
    at(h, 90)  # the next step follows on its own wait (15m after step 2)
    assert pages(h) == [*BEFORE_DAMPING, ("trigger", "eng-lead"), ("trigger", "cto")]
    texts = [e.text for e in h.ctx.store.timeline(KEY)]
    assert STARTED in texts
    assert "Flapping stopped: no change for 15m; final state firing" in texts


def test_flapping_that_settles_resolved_resolves_once(h: Harness):
    toggle(h, 0, 61)  # ends with a resolve at 61
    assert pages(h) == BEFORE_DAMPING
    at(h, 75.9)
    assert pages(h) == BEFORE_DAMPING
    at(h, 76)
    h.run_due()  # the resolve goes out through the outbox, as one from the API does
    assert pages(h) == [*BEFORE_DAMPING, ("resolve", "oncall")]
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    assert incident.status == "resolved"
    assert notes(h)[-1] == "Flapping stopped: no change for 15m; final state resolved"
    at(h, 100, "firing")  # a new problem after it settled pages as usual
    assert pages(h)[-1] == ("trigger", "oncall")


def test_changes_spread_wider_than_the_window_never_damp(h: Harness):
    for minute in range(0, 120, 4):  # a change every 4 minutes: 3 within any 10
        at(h, minute, "firing" if minute % 8 == 0 else "resolved")
    assert len(pages(h)) == 30
    assert notes(h) == []


def test_a_repeated_status_is_no_change(h: Harness):
    for second in range(0, 240, 10):  # Alertmanager re-sending a firing alert
        at(h, second / 60, "firing")
    at(h, 4, "resolved")
    assert pages(h) == [("trigger", "oncall"), ("resolve", "oncall")]
    assert notes(h) == []


def test_an_acknowledgement_while_flapping_is_kept_when_it_settles_firing(h: Harness):
    toggle(h, 0, 5)
    assert h.ctx.store.acknowledge(KEY, "jane", "", h.clock.now)
    h.run_due()
    toggle(h, 6, 20)
    at(h, 40)
    acked = [*BEFORE_DAMPING, ("acknowledge", "oncall")]
    assert pages(h) == acked  # settled firing at 35, acknowledged: no step resumes
    assert notes(h)[-1] == "Flapping stopped: no change for 15m; final state firing"
