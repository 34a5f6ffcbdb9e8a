"""What PagerDuty receives for each action, and the limits alertgw keeps to."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import redis

from core.rules.model import PagerDutyTarget, SlackTarget, Target
from tests.fakes.vendors import FakePagerDuty
from tests.workers.notifiers.factories import (
    INCIDENTS,
    ONCALL,
    ROUTING_KEY,
    FakeClock,
    incident,
    notify,
)
from workers.notifiers.base import PermanentError, RetryableError
from workers.notifiers.pagerduty import PagerDutyNotifier, _properties, summary

KEY = "checkout-down:service=checkout,environment=production"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def notifier(
    fake_pagerduty: FakePagerDuty, redis_client: redis.Redis, key_prefix: str, clock: FakeClock
) -> Iterator[PagerDutyNotifier]:
    notifier = PagerDutyNotifier(
        fake_pagerduty.events_url, redis_client, key_prefix, 2.0, clock, limit_per_minute=3
    )
    yield notifier
    notifier.close()


def test_trigger_sends_the_full_event(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty
) -> None:
    notifier.send(notify(ONCALL))
    assert fake_pagerduty.events() == [
        {
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": KEY,
            "client": "alertgw",
            "payload": {
                "summary": "[SEV1] checkout: HighErrorRate",
                "source": "checkout",
                "severity": "critical",
                "timestamp": "2026-03-02T10:40:00+00:00",
                "component": "checkout",
                "group": "production",
                "class": "checkout-down",
                "custom_details": {
                    "incident": KEY,
                    "severity": "SEV1",
                    "rule": "checkout-down",
                    "alerts": 2,
                    "labels": {"alertname": "HighErrorRate", "service": "checkout"},
                    "summary": "5xx ratio above 5% for 10m",
                },
            },
            "links": [{"href": "https://prometheus.example.com/graph", "text": "Prometheus"}],
        }
    ]
    request = fake_pagerduty.requests[0]
    assert request.path == "/v2/enqueue"
    assert request.headers["content-type"] == "application/json"


def test_escalate_pages_again_with_the_same_dedup_key(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty
) -> None:
    cto = Target("cto", pagerduty=PagerDutyTarget("C" * 32))
    notifier.send(notify(cto, "escalate"))
    (event,) = fake_pagerduty.events(action="trigger")
    assert (event["routing_key"], event["dedup_key"]) == ("C" * 32, KEY)


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_carry_only_the_key(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty, action: str
) -> None:
    notifier.send(notify(ONCALL, action))  # type: ignore[arg-type]
    assert fake_pagerduty.events() == [
        {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": KEY}
    ]


@pytest.mark.parametrize("action", ["severity_raised", "status_update_due", "note"])
def test_chat_only_actions_are_not_sent(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty, action: str
) -> None:
    receipt = notifier.send(notify(ONCALL, action))  # type: ignore[arg-type]
    assert not receipt.sent
    assert fake_pagerduty.requests == []
    assert action not in notifier.actions


def test_summary_without_a_service_and_source_falls_back_to_the_tool(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty
) -> None:
    notifier.send(notify(ONCALL, service=None, environment=None, links=(), opened_at=None))
    payload = fake_pagerduty.events()[0]["payload"]
    assert payload["summary"] == "[SEV1] HighErrorRate"
    assert payload["source"] == "alertmanager"
    assert not {"component", "group", "timestamp"} & set(payload)
    assert "links" not in fake_pagerduty.events()[0]


def test_a_long_summary_is_cut_to_pagerdutys_limit() -> None:
    text = summary(incident(title="x" * 2000))
    assert len(text) == 1024
    assert text.endswith("…")


def test_a_400_names_pagerdutys_errors_but_not_the_key(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty
) -> None:
    fake_pagerduty.respond(400, body={"status": "invalid event", "errors": [f"bad {ROUTING_KEY}"]})
    with pytest.raises(PermanentError) as caught:
        notifier.send(notify(ONCALL))
    assert str(caught.value) == (
        "PagerDuty trigger for target 'oncall': HTTP 400: bad <routing key>"
    )


def test_an_invalid_event_is_refused_by_the_fake_as_by_pagerduty(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty
) -> None:
    with pytest.raises(PermanentError, match=r"payload\.severity"):
        notifier.send(notify(ONCALL, pagerduty_severity="fatal"))


def test_a_target_without_a_routing_key_is_final(notifier: PagerDutyNotifier) -> None:
    with pytest.raises(PermanentError, match="no PagerDuty routing key"):
        notifier.send(notify(Target("oncall", pagerduty=PagerDutyTarget(""))))


def test_handles_only_pagerduty_targets(notifier: PagerDutyNotifier) -> None:
    assert notifier.handles(ONCALL)
    assert not notifier.handles(INCIDENTS)
    assert not notifier.handles(Target("x", slack=SlackTarget(webhook_url="https://h")))


def test_events_per_routing_key_are_rate_limited_without_sending(
    notifier: PagerDutyNotifier, fake_pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    for _ in range(3):
        notifier.send(notify(ONCALL))
        clock.now += 1
    with pytest.raises(RetryableError) as caught:
        notifier.send(notify(ONCALL, "resolve"))
    assert caught.value.retry_after == 57.0  # the first event (3 s ago) leaves the window then
    assert ROUTING_KEY not in str(caught.value)
    assert len(fake_pagerduty.requests) == 3
    other = Target("eng-lead", pagerduty=PagerDutyTarget("E" * 32))
    assert notifier.send(notify(other)).sent  # another key has its own budget
    clock.now += 57
    assert notifier.send(notify(ONCALL, "resolve")).sent


def test_the_packages_copy_of_a_request_leaves_the_parts_we_built_alone() -> None:
    # ApiClient.request deep-copies its kwargs; our payload and links are made per call
    properties = _properties(notify(ONCALL))
    kwargs = {"json": {"event_action": "trigger", "dedup_key": KEY, **properties}}
    copied = copy.deepcopy(kwargs)
    assert copied["json"] is not kwargs["json"]  # the body it adds the routing key to
    assert copied["json"]["payload"] is properties["payload"]
    assert copied == kwargs
