from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import redis
from prometheus_client import REGISTRY

from core.rules import parse_matchers
from core.rules.model import InhibitRule
from core.silences import Silence
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, Equal, entry, hand_off, incident, policy
from workers.escalation import muting

KEY = "checkout-down:service=checkout"
SEV1_MUTES_SEV3 = InhibitRule(
    (Equal("severity", "SEV1"),), (Equal("severity", "SEV3"),), ("service",)
)


def muted_count(reason: str, severity: str) -> float:
    labels = {"reason": reason, "severity": severity}
    return REGISTRY.get_sample_value("alertgw_alerts_muted_total", labels) or 0.0


def silence(h: Harness, minutes: float = 60, starts_in: float = 0, **labels: str) -> Silence:
    matchers = [f'{name}="{value}"' for name, value in (labels or {"service": "checkout"}).items()]
    starts = h.clock.now + timedelta(minutes=starts_in)
    ends = starts + timedelta(minutes=minutes)
    return h.ctx.silences.create(matchers, starts, ends, "deploy", "jane", h.clock.now)


def lines(h: Harness, kind: str, key: str = KEY) -> list[str]:
    return [t.text for t in h.ctx.store.timeline(key) if t.kind == kind]


def later(h: Harness, minutes: float) -> None:
    h.clock.advance(timedelta(minutes=minutes))
    h.run_due()


@pytest.fixture
def inhibiting(redis_client: redis.Redis, key_prefix: str):
    h = make_harness(redis_client, key_prefix, policy(inhibit=(SEV1_MUTES_SEV3,)))
    yield h
    _forget_jobs(h)


# silences ------------------------------------------------------------------------------


def test_a_silenced_incident_notifies_nobody_and_has_nothing_to_resolve(harness: Harness):
    muting_silence = silence(harness, minutes=120)
    before = muted_count("silence", "SEV1")
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    later(harness, 10)
    later(harness, 20)
    assert harness.pagerduty.sent == harness.slack.sent == []
    assert lines(harness, "silenced") == [f"silenced by {muting_silence.id}: deploy"]
    assert muted_count("silence", "SEV1") == before + 1  # once, not once per look
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(status="resolved"))
    harness.run_due()
    assert harness.ctx.store.get(KEY).status == "resolved"  # type: ignore[union-attr]
    assert harness.pagerduty.sent == harness.slack.sent == []
    later(harness, 120)  # the silence ends after the resolve: nothing is left to page
    assert harness.pagerduty.sent == []


def test_escalation_starts_when_the_silence_ends(harness: Harness):
    silence(harness, minutes=12)
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    later(harness, 10)
    assert harness.pagerduty.sent == []
    later(harness, 2)  # the silence is over: step 1 now, step 2 five minutes after it
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert harness.slack.actions() == [("trigger", "incidents")]
    later(harness, 4)
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    later(harness, 1)
    assert harness.pagerduty.actions()[-1] == ("trigger", "eng-lead")


def test_of_two_silences_the_one_ending_last_decides_with_one_read_or_two(harness: Harness):
    silence(harness, minutes=3)
    last = silence(harness, minutes=4)
    silence(harness, minutes=9, service="search")  # active, but not this incident's
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.intake.drain()
    found, stored = muting.read(harness.ctx, KEY)
    assert found is not None
    assert len(stored) == 3
    now = harness.clock.now
    by_read = muting.muted(harness.ctx, found, now, stored)
    assert by_read == muting.muted(harness.ctx, found, now)  # as SilenceStore.active says
    assert by_read is not None
    assert (by_read.cause, by_read.until) == (last.id, last.ends_at)


def test_a_silence_expired_early_lets_escalation_start_within_the_recheck(harness: Harness):
    early = silence(harness, minutes=120)
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    later(harness, 1)
    harness.ctx.silences.expire(early.id, harness.clock.now)
    later(harness, 1)
    assert harness.pagerduty.sent == []
    later(harness, muting.RECHECK.total_seconds() / 60 - 2)
    assert harness.pagerduty.actions() == [("trigger", "oncall")]


def test_a_page_sent_before_the_silence_is_still_resolved(harness: Harness):
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    silence(harness, minutes=60)
    later(harness, 6)  # step 2 falls due inside the silence: muted
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert len(lines(harness, "silenced")) == 1
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(status="resolved"))
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall"), ("resolve", "oncall")]
    assert harness.slack.actions()[-1] == ("resolve", "incidents")


def test_a_maintenance_window_in_the_future_does_not_mute_now(harness: Harness):
    silence(harness, minutes=60, starts_in=30)
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    harness.clock.advance(timedelta(minutes=31))  # inside the window: a new incident is muted
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(key="other", fingerprint="am:2"))
    harness.run_due()
    assert [n.incident.key for n in harness.pagerduty.sent] == [KEY]
    assert len(lines(harness, "silenced", "other")) == 1


def test_silences_match_the_classified_severity(harness: Harness):
    silence(harness, severity="SEV4")
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(severity="SEV4", key="low"))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(fingerprint="am:2"))
    harness.run_due()
    assert [n.incident.key for n in harness.pagerduty.sent] == [KEY]
    assert lines(harness, "silenced", "low")


# inhibition ----------------------------------------------------------------------------


def test_a_sev1_on_a_service_mutes_its_sev3_only(inhibiting: Harness):
    h = inhibiting
    before = muted_count("inhibited", "SEV3")
    hand_off(h.ctx.redis, h.ctx.prefix, entry())
    h.run_due()
    hand_off(
        h.ctx.redis,
        h.ctx.prefix,
        entry(fingerprint="am:7", severity="SEV3", key="small"),
        entry(fingerprint="am:8", severity="SEV3", key="search", service="search"),
    )
    h.run_due()
    later(h, 5)
    assert {n.incident.key for n in h.pagerduty.sent if n.action == "trigger"} == {KEY, "search"}
    assert lines(h, "inhibited", "small") == [f"inhibited by {KEY}"]
    assert muted_count("inhibited", "SEV3") == before + 1


def test_a_resolved_sev1_mutes_nothing(inhibiting: Harness):
    h = inhibiting
    hand_off(h.ctx.redis, h.ctx.prefix, entry())
    h.run_due()
    hand_off(h.ctx.redis, h.ctx.prefix, entry(fingerprint="am:7", severity="SEV3", key="small"))
    h.run_due()
    hand_off(h.ctx.redis, h.ctx.prefix, entry(status="resolved"))
    h.run_due()
    # a SEV3 opened after the resolve pages at once ...
    hand_off(h.ctx.redis, h.ctx.prefix, entry(fingerprint="am:9", severity="SEV3", key="late"))
    h.run_due()
    assert ("late", "trigger") in [(n.incident.key, n.action) for n in h.pagerduty.sent]
    # ... and the one muted while the SEV1 was open escalates at its next look
    assert "small" not in {n.incident.key for n in h.pagerduty.sent}
    later(h, muting.RECHECK.total_seconds() / 60)
    assert ("small", "trigger") in [(n.incident.key, n.action) for n in h.pagerduty.sent]


# the pure part ---------------------------------------------------------------------------


def test_inhibitor_needs_matching_source_target_and_equal_labels():
    rules = policy(inhibit=(SEV1_MUTES_SEV3,))
    small = incident("small", "SEV3", service="checkout")
    big = incident("big", "SEV1", service="checkout")
    elsewhere = incident("other", "SEV1", service="search")
    assert muting.inhibitor(rules, small, [small, big]) == big
    assert muting.inhibitor(rules, small, [elsewhere]) is None
    assert muting.inhibitor(rules, small, [replace(big, status="resolved")]) is None
    assert muting.inhibitor(rules, big, [small]) is None
    assert muting.inhibitor(policy(), small, [big]) is None


def test_two_alike_incidents_do_not_inhibit_each_other():
    # Alertmanager's two-sided rule: an alert on both sides ignores sources like itself
    rule = InhibitRule(
        parse_matchers(['severity=~"SEV1|SEV2"']),
        parse_matchers(['severity=~"SEV2|SEV3"']),
        ("service",),
    )
    rules = policy(inhibit=(rule,))
    first, second = incident("a", "SEV2", service="x"), incident("b", "SEV2", service="x")
    assert muting.inhibitor(rules, second, [first]) is None
    assert muting.inhibitor(rules, second, [incident("c", "SEV1", service="x")]) is not None


def test_inhibitable_only_when_a_target_matcher_matches():
    rules = policy(inhibit=(SEV1_MUTES_SEV3,))
    assert muting.inhibitable(rules, incident(severity="SEV3"))
    assert not muting.inhibitable(rules, incident(severity="SEV1"))
    assert not muting.inhibitable(policy(), incident(severity="SEV3"))


def test_recheck_at_the_end_of_the_silence_or_sooner():
    ends = T0 + timedelta(minutes=2)
    assert muting.Mute("silence", "s", "", ends).recheck_at(T0) == ends
    assert muting.Mute("inhibited", "k", "").recheck_at(T0) == T0 + muting.RECHECK
    far = muting.Mute("silence", "s", "", T0 + timedelta(days=1))
    assert far.recheck_at(T0) == T0 + muting.RECHECK
