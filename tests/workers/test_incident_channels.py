"""Incident channels against the recording fake Slack: created, reused, named around a
taken name, joined by the acknowledger, archived after resolve and the postmortem."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from core import slack_people
from core.postmortems import PostmortemStore
from core.rules.model import IncidentChannelPolicy, PostmortemPolicy
from core.settings import Settings
from tests.fakes.vendors import TEST_BOT_TOKEN, FakeSlack
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, entry, hand_off, policy
from workers.escalation import reminders
from workers.escalation.incident_channels import channel_name, short_id

KEY = "checkout-down:service=checkout"
TEAM = ["U0LEAD", "S0ONCALL"]


def make(
    client: redis.Redis,
    prefix: str,
    slack: FakeSlack,
    name: str = "inc-{date}-{service}-{id}",
    postmortem: bool = True,
) -> Harness:
    owed = PostmortemPolicy(frozenset({"SEV1"}), timedelta(hours=48)) if postmortem else None
    channel = IncidentChannelPolicy(frozenset({"SEV1"}), name, tuple(TEAM), timedelta(hours=48))
    rules = dataclasses.replace(policy(), postmortem=owed, incident_channel=channel)
    h = make_harness(client, prefix, rules)
    h.ctx.settings = Settings(
        redis_url=h.ctx.settings.redis_url,
        redis_prefix=prefix,
        slack_api_url=slack.api_url,  # type: ignore[arg-type]
        slack_bot_token=TEST_BOT_TOKEN,  # type: ignore[arg-type]
    )
    slack.conversations.usergroups["S0ONCALL"] = ["U0ONCALL1", "U0ONCALL2"]
    return h


@pytest.fixture
def harness(redis_client: redis.Redis, key_prefix: str, fake_slack: FakeSlack) -> Iterator[Harness]:
    h = make(redis_client, key_prefix, fake_slack)
    yield h
    _forget_jobs(h)


def fire(h: Harness, fingerprint: str = "am:1", severity: str = "SEV1") -> None:
    e = entry(fingerprint, severity=severity, received_at=h.clock.now)  # type: ignore[arg-type]
    hand_off(h.ctx.redis, h.ctx.prefix, e)
    h.run_due()


def the_channel(h: Harness, slack: FakeSlack) -> tuple[str, str]:
    incident = h.ctx.store.get(KEY)
    assert incident is not None
    name = channel_name("inc-{date}-{service}-{id}", incident)
    channel = slack.conversations.named(name)
    assert channel is not None, sorted(slack.conversations.channels)
    return name, channel.id


def test_a_sev1_gets_a_channel_with_its_people_and_the_pinned_card(harness, fake_slack):
    fire(harness)
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    name, channel_id = the_channel(harness, fake_slack)
    assert name == f"inc-2026-03-02-checkout-{short_id(incident)}"
    channel = fake_slack.conversations.named(name)
    assert channel is not None
    assert channel.members == ["U0LEAD", "U0ONCALL1", "U0ONCALL2"]
    cards = fake_slack.messages(channel=channel_id)
    assert len(cards) == 1
    assert cards[0]["text"].startswith("INCIDENT DETECTED\nSeverity: SEV1")
    assert len(channel.pins) == 1
    links = [n.text for n in harness.slack.sent if n.text.startswith("Incident channel")]
    assert links == [f"Incident channel: <#{channel_id}|{name}>"]
    assert [n.target.name for n in harness.slack.sent if n.text in links] == ["incidents"]

    # acknowledged with the Slack button: the acknowledger joins
    slack_people.remember(harness.ctx.redis, harness.ctx.prefix, "@jane (Slack)", "U0JANE")
    harness.ctx.store.acknowledge(KEY, "@jane (Slack)", "", harness.clock.now)
    harness.run_due()
    assert channel.members[-1] == "U0JANE"
    assert len(fake_slack.messages(channel=channel_id)) == 1  # the card is not posted again
    assert len(channel.pins) == 1


def test_the_channel_is_archived_once_the_postmortem_is_done(harness, fake_slack):
    fire(harness)
    name, channel_id = the_channel(harness, fake_slack)
    harness.clock.advance(timedelta(minutes=40))
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    said = [m["text"] for m in fake_slack.messages(channel=channel_id)]
    assert said[-1].startswith("Postmortem due 2026-03-04 10:40 UTC.")

    harness.clock.advance(timedelta(hours=49))  # past archive_after, postmortem pending
    harness.run_due()
    channel = fake_slack.conversations.named(name)
    assert channel is not None
    assert not channel.archived
    assert fake_slack.messages(channel=channel_id)[-1]["text"].startswith(
        "Postmortem overdue since 2026-03-04 10:40 UTC."
    )

    postmortems = PostmortemStore(harness.ctx.store)
    pending = postmortems.get(KEY)
    assert pending is not None
    postmortems.mark_done(KEY, pending.inc, "https://wiki/pm/1", "jane", harness.clock.now)
    harness.clock.advance(timedelta(seconds=10))  # the next point of the sweep grid
    reminders.keep_sweeping(harness.ctx)  # what each worker's refresher does every 5 s
    harness.run_due()
    assert channel.archived
    kinds = [(e.kind, e.text) for e in harness.ctx.store.timeline(KEY)]
    assert ("channel", f"archived #{name}") in kinds


def test_without_a_postmortem_it_is_archived_archive_after_the_resolve(
    redis_client, key_prefix, fake_slack
):
    h = make(redis_client, key_prefix, fake_slack, postmortem=False)
    try:
        fire(h)
        name, _ = the_channel(h, fake_slack)
        h.ctx.store.resolve(KEY, "jane", "", h.clock.now)
        h.run_due()
        h.clock.now = T0 + timedelta(hours=48) - timedelta(seconds=1)
        h.run_due()
        channel = fake_slack.conversations.named(name)
        assert channel is not None
        assert not channel.archived
        h.clock.now = T0 + timedelta(hours=48)
        h.run_due()
        assert channel.archived
    finally:
        _forget_jobs(h)


def test_a_name_taken_by_someone_else_gets_the_id(harness, fake_slack):
    fake_slack.conversations.take("inc-2026-03-02-checkout")
    rules = harness.ctx.policy
    assert rules.incident_channel is not None
    named = dataclasses.replace(rules.incident_channel, name="inc-{date}-{service}")
    changed = dataclasses.replace(rules, incident_channel=named)
    harness.ctx.policy_source = lambda: changed
    fire(harness)
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    ours = fake_slack.conversations.named(f"inc-2026-03-02-checkout-{short_id(incident)}")
    assert ours is not None
    assert ours.members == ["U0LEAD", "U0ONCALL1", "U0ONCALL2"]
    taken = fake_slack.conversations.named("inc-2026-03-02-checkout")
    assert taken is not None
    assert taken.members == ["U0SOMEONE"]  # theirs, untouched


def test_resolve_then_refire_the_same_day_reuses_our_channel(redis_client, key_prefix, fake_slack):
    h = make(redis_client, key_prefix, fake_slack, name="inc-{date}-{service}")
    try:
        fire(h)
        h.ctx.store.resolve(KEY, "jane", "", h.clock.now)
        h.run_due()
        h.clock.advance(timedelta(minutes=10))
        fire(h, "am:1")
        assert sorted(fake_slack.conversations.channels) == ["inc-2026-03-02-checkout"]
        channel = fake_slack.conversations.named("inc-2026-03-02-checkout")
        assert channel is not None
        cards = [m for m in fake_slack.messages(channel=channel.id) if "INCIDENT" in m["text"]]
        assert len(cards) == 2  # one card per incident
        assert len(channel.pins) == 2
        # the first incident's archive time comes: the channel is the second one's now
        postmortems = PostmortemStore(h.ctx.store)
        first = postmortems.get(KEY)
        assert first is not None
        postmortems.mark_done(KEY, first.inc, "https://wiki/pm/1", "jane", h.clock.now)
        h.clock.advance(timedelta(hours=49))
        h.run_due()
        assert not channel.archived
    finally:
        _forget_jobs(h)


def test_raised_from_sev3_to_sev1_creates_the_channel_then(harness, fake_slack):
    fire(harness, severity="SEV3")
    assert fake_slack.conversations.channels == {}
    harness.clock.advance(timedelta(minutes=7))
    fire(harness, "am:2", severity="SEV1")
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    assert incident.severity == "SEV1"
    name, channel_id = the_channel(harness, fake_slack)
    assert fake_slack.messages(channel=channel_id)[0]["text"].startswith(
        "INCIDENT DETECTED\nSeverity: SEV1"
    )
    assert name.startswith("inc-2026-03-02-checkout-")
