from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import pytest

from core.rules.model import Rule
from tests.workers.conftest import Harness, make_harness
from tests.workers.helpers import (
    Clock,
    Equal,
    Recorder,
    alert,
    classified,
    entry,
    hand_off,
    policy,
    retryable,
)
from workers import jobs
from workers.notifiers.base import Notification, PermanentError, Receipt

KEY = "checkout-down:service=checkout"


def kinds(h: Harness, key: str = KEY) -> list[str]:
    return [t.kind for t in h.ctx.store.timeline(key)]


def test_new_incident_pages_step_one_and_schedules_step_two(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert harness.slack.actions() == [("trigger", "incidents")]
    sent = harness.pagerduty.sent[0]
    assert sent.incident.key == KEY
    assert sent.incident.pagerduty_severity == "critical"
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    assert incident.thread == ("C1", "1.000")
    assert harness.ctx.store.notified(KEY) == {"oncall", "incidents"}
    assert sorted((round(s), name) for s, name, _ in harness.scheduled()) == [
        (300, "run_step"),
        (900, "remind_due"),
    ]
    assert kinds(harness)[:2] == ["opened", "escalated"]


def test_duplicates_page_once(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, *[entry() for _ in range(50)])
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    assert incident.alert_count == 50


def test_escalates_through_steps_until_acknowledged(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    harness.clock.advance(timedelta(minutes=5))
    harness.run_due()
    assert harness.pagerduty.actions()[-1] == ("trigger", "eng-lead")
    assert harness.slack.sent[-1].action == "escalate"
    assert harness.slack.sent[-1].thread is not None
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert harness.pagerduty.actions()[-1] == ("trigger", "cto")
    harness.ctx.store.acknowledge(KEY, "jane", "on it", harness.clock.now)
    harness.run_due()
    acks = [a for a in harness.pagerduty.actions() if a[0] == "acknowledge"]
    assert sorted(acks) == [
        ("acknowledge", "cto"),
        ("acknowledge", "eng-lead"),
        ("acknowledge", "oncall"),
    ]
    assert harness.slack.sent[-1].text == "Acknowledged by jane: on it"
    assert harness.slack.sent[-1].incident.lead == "jane"
    harness.clock.advance(timedelta(hours=2))
    harness.run_due()
    assert ("trigger", "ceo") not in harness.pagerduty.actions()


def test_resolve_at_the_source_resolves_everything_triggered(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(), entry(fingerprint="am:2"))
    harness.run_due()
    harness.clock.advance(timedelta(minutes=6))
    harness.run_due()
    hand_off(
        harness.ctx.redis,
        harness.ctx.prefix,
        entry(status="resolved"),
        entry(fingerprint="am:2", status="resolved"),
    )
    harness.run_due()
    resolves = sorted(a for a in harness.pagerduty.actions() if a[0] == "resolve")
    assert resolves == [("resolve", "eng-lead"), ("resolve", "oncall")]
    assert harness.slack.sent[-1].action == "resolve"
    harness.clock.advance(timedelta(hours=1))
    before = len(harness.pagerduty.sent) + len(harness.slack.sent)
    harness.run_due()
    assert len(harness.pagerduty.sent) + len(harness.slack.sent) == before


def test_severity_raised_escalates_from_the_step_it_would_have_reached(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV3"))
    harness.intake.drain()
    harness.run_queued()  # step 1 only; the later steps are left scheduled
    harness.clock.advance(timedelta(minutes=25))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(fingerprint="am:2", severity="SEV1"))
    harness.intake.drain()
    harness.run_queued()
    # SEV1 would have paged on-call, the lead (5m) and the CTO (20m) by now: on-call hears
    # the new severity again, the lead and the CTO are paged at once
    assert harness.pagerduty.actions() == [
        ("trigger", "oncall"),
        ("escalate", "oncall"),
        ("trigger", "eng-lead"),
        ("trigger", "cto"),
    ]
    assert {n.incident.severity for n in harness.pagerduty.sent[1:]} == {"SEV1"}
    assert [n.action for n in harness.slack.sent][-2:] == ["severity_raised", "escalate"]
    assert harness.slack.sent[-2].incident.severity == "SEV1"
    assert kinds(harness).count("severity_raised") == 1
    harness.clock.advance(timedelta(minutes=30))
    harness.run_due()
    # the SEV3 step 2 scheduled before the raise is stale; the SEV1 path ends at the CEO
    assert harness.pagerduty.actions()[4:] == [("trigger", "ceo")]


def test_during_step_is_deferred_to_the_interval_and_cancelled_by_ack(harness: Harness):
    harness.clock.now = harness.clock.now.replace(hour=17, minute=50)
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV3", escalation="business"))
    harness.run_due()
    harness.clock.advance(timedelta(minutes=30))  # 18:20, outside business hours
    harness.run_due()
    assert harness.pagerduty.actions() == []
    assert harness.slack.sent[-1].action == "note"
    assert "deferred until" in harness.slack.sent[-1].text
    assert [round(s) for s, name, _ in harness.scheduled() if name == "run_step"] == [
        14 * 3600 + 2400
    ]
    harness.clock.advance(timedelta(hours=14, minutes=40))  # 09:00 next day
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]


def test_deferred_step_does_nothing_after_an_acknowledgement(harness: Harness):
    harness.clock.now = harness.clock.now.replace(hour=17, minute=50)
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV3", escalation="business"))
    harness.run_due()
    harness.clock.advance(timedelta(minutes=30))
    harness.run_due()
    harness.ctx.store.acknowledge(KEY, "jane", "", harness.clock.now)
    harness.clock.advance(timedelta(hours=15))
    harness.run_due()
    assert harness.pagerduty.actions() == []


def test_status_update_reminders_while_live(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV2"))
    harness.run_due()
    harness.ctx.store.acknowledge(KEY, "jane", "", harness.clock.now)
    for _ in range(2):
        harness.clock.advance(timedelta(minutes=30))
        harness.run_due()
    reminders = [n for n in harness.slack.sent if n.action == "status_update_due"]
    assert [n.text.split("\n")[0] for n in reminders] == ["Status update due (SEV2: every 30m)"] * 2
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    harness.clock.advance(timedelta(minutes=30))
    harness.run_due()
    assert len([n for n in harness.slack.sent if n.action == "status_update_due"]) == 2


def test_retryable_failure_is_retried_after_retry_after(harness: Harness):
    harness.pagerduty.failures.append(retryable(after=7))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    assert harness.pagerduty.sent == []
    retries = [(s, args) for s, name, args in harness.scheduled() if name == "deliver"]
    assert len(retries) == 1
    assert retries[0][0] >= 7
    assert retries[0][1][2] == [
        ["oncall", "trigger", "Escalated to oncall, incidents (step 1 of 4)"]
    ]
    harness.clock.advance(timedelta(seconds=retries[0][0]))
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert harness.slack.actions() == [("trigger", "incidents")]  # sent once, not retried


def test_backoff_grows_with_jitter_and_honours_retry_after(harness: Harness):
    delays = [jobs.backoff(harness.ctx, n, 0).total_seconds() for n in range(10)]
    assert 1 <= delays[0] <= 2
    assert 8 <= delays[3] <= 16
    assert delays[9] <= 300
    assert jobs.backoff(harness.ctx, 0, 60).total_seconds() == 60


def test_permanent_failure_and_exhausted_retries_are_dead_lettered(harness: Harness):
    harness.pagerduty.failures.append(PermanentError("HTTP 400: invalid routing key"))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    letters = harness.ctx.dead_letters.list()
    assert [(d.incident, d.args[2][0][:2]) for d in letters] == [(KEY, ["oncall", "trigger"])]
    assert letters[0].error == "permanent: HTTP 400: invalid routing key"
    harness.ctx.max_attempts = 2
    harness.pagerduty.failures += [retryable(), retryable()]
    jobs.deliver(KEY, "manual", [["eng-lead", "trigger", ""]])
    harness.clock.advance(timedelta(minutes=5))
    harness.run_due()
    assert harness.ctx.dead_letters.count() == 2
    assert harness.ctx.dead_letters.list()[1].error == "out of retries: HTTP 429"


def test_a_rerun_job_does_not_send_again(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    tag = f"{incident.inc}:{incident.version}:step:0"
    jobs.deliver(KEY, tag, [["oncall", "trigger", "x"], ["incidents", "trigger", "x"]])
    assert len(harness.pagerduty.sent) == 1
    assert len(harness.slack.sent) == 1


def test_a_change_dispatched_twice_pages_once(harness: Harness):
    # two readers can dispatch one change: the second re-runs step 1 and finds its
    # target notified already, so it would say `escalate` where the first said `trigger`
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    jobs.on_change(KEY, incident.inc, 1, "opened", "", "")
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert harness.slack.actions() == [("trigger", "incidents")]


def test_dry_run_records_instead_of_sending(redis_client, key_prefix):
    h = make_harness(redis_client, key_prefix, delivery="dry-run")
    hand_off(h.ctx.redis, h.ctx.prefix, entry())
    h.run_due()
    assert h.pagerduty.sent == []
    assert h.slack.sent == []
    lines = [t.text for t in h.ctx.store.timeline(KEY) if t.kind == "dry_run"]
    assert lines[0].startswith("would send trigger to oncall (pagerduty)")
    assert "rk-oncall" not in " ".join(lines)
    assert lines[1].startswith("would send trigger to incidents (slack #incidents)")


def test_unconfigured_target_is_skipped_with_a_timeline_entry(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV4", escalation="chat-only"))
    harness.run_due()
    assert harness.slack.actions() == [("trigger", "incidents")]
    skipped = [t.text for t in harness.ctx.store.timeline(KEY) if t.kind == "skipped"]
    assert skipped == ["skipped trigger to unset: its credential is empty"]


def test_forgotten_incident_ends_its_escalation(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    harness.ctx.redis.delete(harness.ctx.store.key_of(KEY))  # the dedupe window passed
    harness.clock.advance(timedelta(minutes=5))
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]


def test_a_job_that_died_mid_delivery_is_finished_by_its_rerun(harness: Harness):
    harness.pagerduty.failures.append(SystemExit("worker killed"))  # dies inside the call
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.intake.drain()
    assert len(harness.ctx.queue.get_job_ids()) == 1
    with pytest.raises(SystemExit):
        harness.run_queued()
    assert harness.pagerduty.sent == []
    # RQ re-runs the abandoned job; the dead sender's marker has not lapsed yet
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    jobs.on_change(KEY, incident.inc, 1, "opened", "", "")
    retry = [(s, a) for s, name, a in harness.scheduled() if name == "deliver"]
    assert len(retry) == 1
    assert 20 <= retry[0][0] <= 25
    for key in harness.ctx.redis.scan_iter(match=f"{harness.ctx.prefix}sent:*"):
        harness.ctx.redis.pexpire(key, 1)  # ... until it lapses
    time.sleep(0.01)
    harness.clock.advance(timedelta(seconds=25))
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert harness.slack.actions() == [("trigger", "incidents")]
    # and the next step was scheduled once, from when step 1 first fired
    assert len([n for _, n, _ in harness.scheduled() if n == "run_step"]) == 1


LEVEL_RULES = (
    Rule("checkout-warning", (Equal("level", "warning"),), "SEV3", "standard"),
    Rule("checkout-down", (Equal("level", "critical"),), "SEV1", "standard"),
)


def test_an_alert_raised_to_another_rule_upgrades_its_incident(redis_client, key_prefix):
    rules = policy(rules=LEVEL_RULES)
    h = make_harness(redis_client, key_prefix, rules)
    hand_off(h.ctx.redis, h.ctx.prefix, *classified(rules, alert("am:f", level="warning")))
    h.run_due()
    h.clock.advance(timedelta(minutes=6))
    h.run_due()
    assert h.pagerduty.actions() == [("trigger", "oncall"), ("trigger", "eng-lead")]
    # the same alert turns critical: another rule, SEV1, but the same incident
    hand_off(h.ctx.redis, h.ctx.prefix, *classified(rules, alert("am:f", level="critical")))
    h.run_due()
    key = "checkout-warning:am:f"
    assert [i.key for i in h.ctx.store.list(now=h.clock.now)] == [key]
    assert h.ctx.store.get(key).severity == "SEV1"  # type: ignore[union-attr]
    assert h.slack.sent[-1].action == "severity_raised"
    assert h.slack.sent[-1].text == "Severity raised to SEV1"
    # SEV1's path from where it stands: the CTO at 20m, then the CEO (a SEV1-only step)
    h.clock.advance(timedelta(minutes=14))
    h.run_due()
    h.clock.advance(timedelta(minutes=30))
    h.run_due()
    # the raise told on-call and the lead the new severity (a PagerDuty trigger again)
    assert h.pagerduty.actions()[2:] == [
        ("escalate", "eng-lead"),
        ("escalate", "oncall"),
        ("trigger", "cto"),
        ("trigger", "ceo"),
    ]
    assert {n.incident.key for n in h.pagerduty.sent} == {key}  # one PagerDuty dedup_key
    # the resolve matches no level rule (the default one): it still resolves the incident
    resolved = alert("am:f", status="resolved", level="info")
    assert [e.classification.rule for e in classified(rules, resolved)] == ["default"]
    hand_off(h.ctx.redis, h.ctx.prefix, *classified(rules, resolved))
    h.run_due()
    assert h.ctx.store.get(key).status == "resolved"  # type: ignore[union-attr]
    assert sorted(t for a, t in h.pagerduty.actions() if a == "resolve") == [
        "ceo",
        "cto",
        "eng-lead",
        "oncall",
    ]


def test_an_alert_matching_two_rules_by_continue_opens_both_incidents(redis_client, key_prefix):
    rules = policy(
        rules=(
            Rule("audit", (Equal("service", "checkout"),), "SEV4", "chat-only", continue_=True),
            Rule("checkout-down", (Equal("level", "critical"),), "SEV1", "standard"),
        )
    )
    h = make_harness(redis_client, key_prefix, rules)
    hand_off(h.ctx.redis, h.ctx.prefix, *classified(rules, alert("am:f")))
    h.run_due()
    opened = {i.key: i.severity for i in h.ctx.store.list(now=h.clock.now)}
    assert opened == {"audit:am:f": "SEV4", "checkout-down:am:f": "SEV1"}
    assert h.pagerduty.actions() == [("trigger", "oncall")]


def test_unacknowledged_resumes_at_the_next_step_when_it_falls_due(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    harness.clock.advance(timedelta(minutes=1))
    harness.ctx.store.acknowledge(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    harness.clock.advance(timedelta(minutes=1))
    harness.ctx.store.unacknowledge(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    assert harness.slack.sent[-1].action == "note"
    assert harness.slack.sent[-1].text == "Unacknowledged by jane: escalation resumes"
    assert harness.pagerduty.actions() == [("trigger", "oncall"), ("acknowledge", "oncall")]
    # step 2 stays due 5 minutes after step 1 fired, 3 minutes from now
    steps = [(round(s), args[3]) for s, name, args in harness.scheduled() if name == "run_step"]
    assert (180, 1) in steps
    harness.clock.advance(timedelta(minutes=3))
    harness.run_due()
    assert harness.pagerduty.actions()[-1] == ("trigger", "eng-lead")


def test_unacknowledged_after_the_next_step_was_due_escalates_at_once(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    harness.ctx.store.acknowledge(KEY, "jane", "", harness.clock.now)
    harness.clock.advance(timedelta(minutes=30))
    harness.run_due()
    assert ("trigger", "eng-lead") not in harness.pagerduty.actions()
    harness.ctx.store.unacknowledge(KEY, "jane", "", harness.clock.now)
    harness.intake.drain()
    harness.run_queued()
    assert harness.pagerduty.actions()[-1] == ("trigger", "eng-lead")
    harness.clock.advance(timedelta(minutes=15))
    harness.run_due()
    assert harness.pagerduty.actions()[-1] == ("trigger", "cto")


@dataclass
class HangingPagerDuty(Recorder):
    """A PagerDuty that answers only after the client's timeout would have passed."""

    clock: Clock | None = None

    def send(self, notification: Notification) -> Receipt:
        assert self.clock is not None
        self.clock.advance(timedelta(seconds=10))
        return super().send(notification)


def test_a_slow_inline_first_step_sends_new_incidents_through_jobs_for_a_while(
    harness: Harness,
) -> None:
    hanging = HangingPagerDuty(clock=harness.clock)
    harness.ctx.notifiers = [hanging, harness.slack]
    harness.ctx.inline_opened = True

    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.intake.drain()  # the first new incident pages inline, in the intake thread
    assert hanging.actions() == [("trigger", "oncall")]
    assert harness.ctx.queue.count == 0

    second = entry("am:2", key="checkout-down:service=payments", service="payments")
    hand_off(harness.ctx.redis, harness.ctx.prefix, second)
    harness.intake.drain()  # it was slow: the next one becomes a job, the intake moves on
    assert len(hanging.sent) == 1
    assert harness.ctx.queue.count == 1
    harness.run_queued()
    assert len(hanging.sent) == 2

    harness.clock.advance(jobs.INLINE_PAUSE)
    third = entry("am:3", key="checkout-down:service=search", service="search")
    hand_off(harness.ctx.redis, harness.ctx.prefix, third)
    harness.intake.drain()  # the pause is over: inline again
    assert len(hanging.sent) == 3
    assert harness.ctx.queue.count == 0
