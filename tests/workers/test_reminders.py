from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from rq.registry import ScheduledJobRegistry

from tests.workers.conftest import Harness
from tests.workers.helpers import entry, hand_off
from workers import jobs
from workers.delivery.scheduling import schedule
from workers.escalation import reminders
from workers.runtime.refresh import Refresher

KEY = "checkout-down:service=checkout"


def due(h: Harness) -> list[tuple[str, float]]:
    """(member, seconds from now) of every reminder in the set."""
    rows = h.ctx.redis.zrange(h.ctx.store.reminders_key, 0, -1, withscores=True)
    return [(m.decode(), score - h.clock.now.timestamp()) for m, score in rows]


def said(h: Harness) -> list[str]:
    return [n.text.split("\n")[0] for n in h.slack.sent if n.action == "status_update_due"]


def test_new_incidents_share_one_sweep_instead_of_a_job_each(harness: Harness):
    services = [f"svc-{i}" for i in range(5)]
    hand_off(
        harness.ctx.redis,
        harness.ctx.prefix,
        *[entry(f"am:{s}", key=f"down:{s}", service=s) for s in services],
    )
    harness.run_due()
    inc = harness.ctx.store.get("down:svc-0").inc  # type: ignore[union-attr]
    assert (f"1:{inc}:down:svc-0", 900.0) in due(harness)
    assert len(due(harness)) == 5
    sweeps = [s for s, name, _ in harness.scheduled() if name == "remind_due"]
    assert [round(s) for s in sweeps] == [900]
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert said(harness) == ["Status update due (SEV1: every 15m)"] * 5
    assert sorted(round(s) for _, s in due(harness)) == [900] * 5  # the second ones
    assert [round(s) for s, n, _ in harness.scheduled() if n == "remind_due"] == [900]


def test_a_sweep_that_died_is_finished_once_after_its_lease(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    harness.clock.advance(timedelta(minutes=15))
    harness.slack.failures.append(SystemExit("worker killed"))  # dies mid-sweep
    with pytest.raises(SystemExit):
        jobs.remind_due()
    assert said(harness) == []
    jobs.remind_due()  # RQ re-runs it: the reminder is leased, not due yet
    assert said(harness) == []
    for key in harness.ctx.redis.scan_iter(match=f"{harness.ctx.prefix}sent:*"):
        harness.ctx.redis.pexpire(key, 1)  # the dead sender's marker lapses meanwhile
    time.sleep(0.01)
    harness.clock.advance(reminders.LEASE)
    harness.run_due()
    assert said(harness) == ["Status update due (SEV1: every 15m)"]
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert len(said(harness)) == 2


def test_a_reminder_job_queued_by_an_older_version_runs_and_the_next_goes_to_the_set(
    harness: Harness,
):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    harness.ctx.redis.delete(harness.ctx.store.reminders_key)  # as an old version left it
    at = harness.clock.now + timedelta(minutes=15)
    schedule(harness.ctx, at, jobs.remind, [KEY, incident.inc, 1], "rem-old")
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert said(harness) == ["Status update due (SEV1: every 15m)"]
    assert due(harness) == [(f"2:{incident.inc}:{KEY}", 900.0)]
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert len(said(harness)) == 2


def test_raised_to_sev1_starts_reminders_and_resolved_ends_them(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV3"))
    harness.run_due()
    assert due(harness) == []  # SEV3: no status updates
    harness.clock.advance(timedelta(minutes=2))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry("am:2", severity="SEV1"))
    harness.run_due()
    assert [round(s) for _, s in due(harness)] == [900]
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert said(harness) == ["Status update due (SEV1: every 15m)"]
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert len(said(harness)) == 1
    assert due(harness) == []
    assert [n for _, n, _ in harness.scheduled() if n == "remind_due"] == []


def test_a_broken_chain_of_sweeps_starts_again_from_the_refresher(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    registry = ScheduledJobRegistry(queue=harness.ctx.queue)
    harness.ctx.redis.delete(registry.key)  # the sweep's scheduled job is lost
    harness.clock.advance(timedelta(minutes=16))
    harness.run_due()
    assert said(harness) == []  # nothing would ever send it

    Refresher(harness.ctx).run(stop_after_one_turn())
    harness.run_due()

    assert said(harness) == ["Status update due (SEV1: every 15m)"]


def stop_after_one_turn() -> threading.Event:
    """A stop event that Refresher.run sees unset once, then set."""

    class OneTurn(threading.Event):
        waited = False

        def wait(self, timeout: float | None = None) -> bool:
            if self.waited:
                return True
            self.waited = True
            return False

    return OneTurn()
