"""Postmortem deadlines as timelines: a SEV1 resolves at a virtual time, then the exact
reminders its Slack thread gets until the postmortem is marked done."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from prometheus_client import REGISTRY

from core.gauges import refresh_shared_gauges
from core.incidents.record import TimelineEntry, since_opened
from core.postmortems import PostmortemStore
from core.rules.model import PostmortemPolicy
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, entry, hand_off, policy

KEY = "checkout-down:service=checkout"
RESOLVED = T0 + timedelta(minutes=40)
DUE = RESOLVED + timedelta(hours=48)


def with_postmortems(due: timedelta = timedelta(hours=48)) -> PostmortemPolicy:
    return PostmortemPolicy(frozenset({"SEV1", "SEV2"}), due)


@pytest.fixture
def harness(redis_client: redis.Redis, key_prefix: str) -> Iterator[Harness]:
    rules = dataclasses.replace(policy(), postmortem=with_postmortems())
    h = make_harness(redis_client, key_prefix, rules)
    yield h
    _forget_jobs(h)


def postmortems(h: Harness) -> PostmortemStore:
    return PostmortemStore(h.ctx.store)


def said(h: Harness) -> list[str]:
    """What the incident's Slack thread heard about its postmortem, in order."""
    return [n.text for n in h.slack.sent if n.text.startswith("Postmortem")]


def at(h: Harness, moment: object) -> None:
    h.clock.now = moment  # type: ignore[assignment]
    h.run_due()


def open_and_resolve(h: Harness, severity: str = "SEV1") -> None:
    hand_off(h.ctx.redis, h.ctx.prefix, entry(severity=severity))  # type: ignore[arg-type]
    h.run_due()
    h.clock.now = RESOLVED
    h.ctx.store.resolve(KEY, "jane", "rolled back", h.clock.now)
    h.run_due()


def test_a_resolved_sev1_gets_its_draft_linked_and_reminders_24h_2h_then_daily(harness):
    open_and_resolve(harness)
    assert said(harness) == [
        "Postmortem due 2026-03-04 10:40 UTC. Draft: GET /api/v1/incidents/"
        "checkout-down%3Aservice%3Dcheckout/postmortem.md. Mark it done with a link to the "
        "written document (`alertgw incidents postmortem 'checkout-down:service=checkout' "
        "--done --link URL`)."
    ]
    at(harness, DUE - timedelta(hours=24, seconds=1))
    assert len(said(harness)) == 1  # not a second early
    at(harness, DUE - timedelta(hours=24))
    at(harness, DUE - timedelta(hours=2))
    at(harness, DUE)
    at(harness, DUE + timedelta(days=1))
    at(harness, DUE + timedelta(days=2))
    tail = "Draft: GET /api/v1/incidents/checkout-down%3Aservice%3Dcheckout/postmortem.md. "
    tail += "Reminders stop when it is marked done with a link to the written document."
    assert said(harness)[1:] == [
        f"Postmortem due in 24 hours (2026-03-04 10:40 UTC). {tail}",
        f"Postmortem due in 2 hours (2026-03-04 10:40 UTC). {tail}",
        f"Postmortem overdue since 2026-03-04 10:40 UTC. {tail}",
        f"Postmortem overdue since 2026-03-04 10:40 UTC, 1 day late. {tail}",
        f"Postmortem overdue since 2026-03-04 10:40 UTC, 2 days late. {tail}",
    ]
    assert {n.target.name for n in harness.slack.sent if n.text.startswith("Postmortem")} == {
        "incidents"
    }
    assert harness.pagerduty.actions().count(("note", "oncall")) == 0  # no chatter to pagers


def test_marking_it_done_stops_the_reminders_and_lets_the_record_go(harness):
    open_and_resolve(harness)
    at(harness, DUE - timedelta(hours=24))
    store = postmortems(harness)
    pending = store.get(KEY)
    assert pending is not None
    assert not pending.done
    assert store.mark_done(KEY, pending.inc, "https://wiki/pm/42", "jane", harness.clock.now)
    queued = harness.ctx.redis.zrange(harness.ctx.store.reminders_key, 0, -1)
    assert [m for m in queued if m.startswith(b"pm:")] == []
    for moment in (DUE - timedelta(hours=2), DUE, DUE + timedelta(days=1)):
        at(harness, moment)
    assert len(said(harness)) == 2  # the link and the 24-hour reminder, nothing after done
    done = store.get(KEY)
    assert done is not None
    assert (done.done, done.url, done.done_by) == (True, "https://wiki/pm/42", "jane")
    assert store.pending() == []
    # kept past the dedupe window while pending; the usual window again once done
    window = harness.ctx.store.window.total_seconds()
    assert 0 < harness.ctx.redis.ttl(harness.ctx.store.key_of(KEY)) <= window


def test_pending_and_overdue_gauges_follow_the_deadline(harness):
    def gauges() -> tuple[float | None, float | None]:
        ctx = harness.ctx
        refresh_shared_gauges(ctx.redis, ctx.prefix, ctx.store, ctx.dead_letters, ctx.clock())
        return tuple(  # type: ignore[return-value]
            REGISTRY.get_sample_value(f"alertgw_postmortems_{name}", {"severity": "SEV1"})
            for name in ("pending", "overdue")
        )

    open_and_resolve(harness)
    assert gauges() == (1, 0)
    at(harness, DUE)
    assert gauges() == (1, 1)
    inc = postmortems(harness).get(KEY).inc  # type: ignore[union-attr]
    postmortems(harness).mark_done(KEY, inc, "https://wiki/pm/42", "jane", harness.clock.now)
    assert gauges() == (0, 0)


def test_the_incident_record_outlives_the_dedupe_window_while_the_postmortem_is_pending(
    harness,
):
    open_and_resolve(harness)
    record = harness.ctx.store.key_of(KEY)
    assert harness.ctx.redis.ttl(record) == -1  # no expiry
    assert harness.ctx.redis.ttl(harness.ctx.store.key_of(KEY, "alerts")) > 0  # alerts go
    listed = harness.ctx.store.list(now=RESOLVED + timedelta(days=3))
    assert [i.key for i in listed] == [KEY]


def test_sev3_gets_no_postmortem_but_raised_to_sev1_does(harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV3"))
    harness.run_due()
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    assert said(harness) == []
    assert postmortems(harness).get(KEY) is None

    harness.clock.advance(timedelta(minutes=5))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry("am:2", severity="SEV3"))
    harness.run_due()
    harness.clock.advance(timedelta(minutes=5))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry("am:3", severity="SEV1"))
    harness.run_due()
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    found = postmortems(harness).get(KEY)
    assert found is not None
    assert found.severity == "SEV1"
    assert len(said(harness)) == 1


def test_resolve_then_refire_keeps_the_first_postmortem_and_owes_a_second(harness):
    open_and_resolve(harness)
    first = postmortems(harness).get(KEY)
    assert first is not None
    at(harness, RESOLVED + timedelta(minutes=10))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry("am:1", received_at=harness.clock.now))
    harness.run_due()
    refired = harness.ctx.store.get(KEY)
    assert refired is not None
    assert refired.status == "open"
    assert refired.inc != first.inc
    # the first draft still reads from its own incarnation's record
    incident, timeline = postmortems(harness).record(first)
    assert incident.inc == first.inc
    assert incident.status == "resolved"
    kinds = [e.kind for e in timeline]
    assert kinds[0] == "opened"
    assert "resolved" in kinds
    assert kinds.count("opened") == 1

    harness.ctx.store.resolve(KEY, "joe", "", harness.clock.now)
    harness.run_due()
    second = postmortems(harness).get(KEY)
    assert second is not None
    assert second.inc == refired.inc
    _, timeline = postmortems(harness).record(second)
    assert [e.kind for e in timeline].count("opened") == 1  # not the first one's lines
    assert postmortems(harness).get(KEY, first.inc) == first
    assert sorted(s for s, _ in postmortems(harness).pending()) == ["SEV1", "SEV1"]
    # the first one's reminders still come, on its own schedule
    at(harness, DUE - timedelta(hours=24))
    assert said(harness)[-1].startswith("Postmortem due in 24 hours (2026-03-04 10:40 UTC)")


def test_a_due_under_a_day_skips_the_reminders_already_past(redis_client, key_prefix):
    rules = dataclasses.replace(policy(), postmortem=with_postmortems(timedelta(hours=1)))
    h = make_harness(redis_client, key_prefix, rules)
    try:
        open_and_resolve(h)
        at(h, RESOLVED + timedelta(minutes=59))
        assert len(said(h)) == 1
        at(h, RESOLVED + timedelta(hours=1))
        assert said(h)[-1].startswith("Postmortem overdue since 2026-03-02 11:40 UTC.")
    finally:
        _forget_jobs(h)


def test_an_incarnations_lines_start_at_its_opened_line_read_a_little_early():
    opened_at = T0 + timedelta(microseconds=123_456)
    rounded = opened_at - timedelta(microseconds=6)  # as Lua's JSON wrote it
    timeline = [
        TimelineEntry(T0 - timedelta(minutes=5), "opened", "the earlier incident"),
        TimelineEntry(T0 - timedelta(minutes=1), "resolved", "jane"),
        TimelineEntry(rounded, "opened", "SEV1 by rule checkout-down: HighErrorRate"),
        TimelineEntry(opened_at, "escalated", "step 1 of 4"),
    ]
    assert [e.kind for e in since_opened(timeline, opened_at)] == ["opened", "escalated"]
