"""build_notifiers wires the settings into one notifier per vendor."""

from __future__ import annotations

import redis

from core.settings import load_settings
from tests.fakes.vendors import TEST_BOT_TOKEN, FakePagerDuty, FakeSlack
from tests.workers.notifiers.factories import INCIDENTS, ONCALL, notify
from workers.notifiers import PagerDutyNotifier, SlackNotifier, build_notifiers, close_notifiers


def test_builds_notifiers_that_reach_the_configured_urls(
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    settings = load_settings(
        pagerduty_events_url=fake_pagerduty.events_url,
        slack_api_url=fake_slack.api_url,
        slack_bot_token=TEST_BOT_TOKEN,
        redis_prefix=key_prefix,
    )
    notifiers = build_notifiers(settings, redis_client)
    try:
        assert [type(n) for n in notifiers] == [PagerDutyNotifier, SlackNotifier]
        for notification in (notify(ONCALL), notify(INCIDENTS)):
            (notifier,) = [n for n in notifiers if n.handles(notification.target)]
            assert notifier.send(notification).sent
    finally:
        close_notifiers(notifiers)
    assert len(fake_pagerduty.events(action="trigger")) == 1
    assert len(fake_slack.roots()) == 1
    assert list(redis_client.scan_iter(match=f"{key_prefix}ratelimit:pagerduty:*"))
