"""Every notifier: delivers, retries 429/5xx/network errors, gives up on 4xx, keeps secrets.

One contract, run against each notifier and its fake vendor (SPEC §8, STYLE point 8).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.fakes.server import FakeServer
from tests.fakes.vendors import TEST_BOT_TOKEN, FakePagerDuty, FakeSlack
from tests.workers.notifiers.factories import (
    INCIDENTS,
    ONCALL,
    ROUTING_KEY,
    FakeClock,
    notify,
    webhook_target,
)
from workers.notifiers.base import (
    Notification,
    Notifier,
    NotifierError,
    PermanentError,
    RetryableError,
)
from workers.notifiers.pagerduty import PagerDutyNotifier
from workers.notifiers.slack import SlackNotifier

TIMEOUT = 0.3


@dataclass
class Case:
    notifier: Notifier
    notification: Notification
    fake: FakeServer
    secrets: tuple[str, ...]  # what must never show in an error or a log line


@pytest.fixture(params=["pagerduty", "slack-api", "slack-webhook"])
def case(
    request: pytest.FixtureRequest,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
    redis_client: redis.Redis,
    key_prefix: str,
) -> Iterator[Case]:
    if request.param == "pagerduty":
        notifier = PagerDutyNotifier(
            fake_pagerduty.events_url, redis_client, key_prefix, TIMEOUT, FakeClock()
        )
        yield Case(notifier, notify(ONCALL), fake_pagerduty, (ROUTING_KEY,))
        notifier.close()
    elif request.param == "slack-api":
        notifier_ = SlackNotifier(fake_slack.api_url, TEST_BOT_TOKEN, TIMEOUT)
        yield Case(notifier_, notify(INCIDENTS), fake_slack, (TEST_BOT_TOKEN,))
    else:
        target = webhook_target(fake_slack.webhook_url)
        notifier_ = SlackNotifier(fake_slack.api_url, TEST_BOT_TOKEN, TIMEOUT)
        secrets = (fake_slack.webhook_url, "/services/T000/B000/XXX")
        yield Case(notifier_, notify(target), fake_slack, secrets)


def failure(case: Case) -> NotifierError:
    with pytest.raises(NotifierError) as caught:
        case.notifier.send(case.notification)
    return caught.value


def assert_no_secret(case: Case, error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    shown = [str(error), repr(error), *traceback.format_exception(error), caplog.text]
    shown += [r.getMessage() for r in caplog.records]
    for secret in case.secrets:
        assert not [text for text in shown if secret in text]


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    # every logger, the vendor libraries' included, at their most talkative
    caplog.set_level(logging.DEBUG)


def test_delivers_to_the_vendor(case: Case, caplog: pytest.LogCaptureFixture) -> None:
    receipt = case.notifier.send(case.notification)
    assert receipt.channel == case.notifier.channel
    assert receipt.sent
    assert [r.status for r in case.fake.requests] in ([200], [202])
    assert case.notifier.handles(case.notification.target)
    for secret in case.secrets:
        assert secret not in caplog.text
        assert secret not in repr(case.notifier)


def test_429_is_retried_after_the_retry_after_it_names(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    case.fake.respond(429, retry_after=7)
    error = failure(case)
    assert isinstance(error, RetryableError)
    assert error.retry_after == 7.0
    assert len(case.fake.requests) == 1  # one attempt: the library did not retry on its own
    assert_no_secret(case, error, caplog)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(
    case: Case, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    case.fake.respond(status)
    error = failure(case)
    assert isinstance(error, RetryableError)
    assert error.retry_after is None
    assert len(case.fake.requests) == 1
    assert_no_secret(case, error, caplog)


def test_a_reset_connection_is_retried(case: Case, caplog: pytest.LogCaptureFixture) -> None:
    case.fake.reset()
    error = failure(case)
    assert isinstance(error, RetryableError)
    assert "connection failed" in str(error)
    assert len(case.fake.requests) == 1
    assert_no_secret(case, error, caplog)


def test_a_timeout_is_retried(case: Case, caplog: pytest.LogCaptureFixture) -> None:
    case.fake.delay(3)
    error = failure(case)
    assert isinstance(error, RetryableError)
    assert "timed out" in str(error)
    assert_no_secret(case, error, caplog)


def test_a_refused_vendor_is_a_connection_error(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    case.fake.close()  # nothing listens on the port any more
    error = failure(case)
    assert isinstance(error, RetryableError)
    assert_no_secret(case, error, caplog)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_final(case: Case, status: int, caplog: pytest.LogCaptureFixture) -> None:
    case.fake.respond(status)
    error = failure(case)
    assert isinstance(error, PermanentError)
    assert f"HTTP {status}" in str(error)
    assert_no_secret(case, error, caplog)


def test_the_next_attempt_after_a_failure_delivers(case: Case) -> None:
    case.fake.respond(503)
    with pytest.raises(RetryableError):
        case.notifier.send(case.notification)
    assert case.notifier.send(case.notification).sent
    statuses = [r.status for r in case.fake.requests]
    assert statuses in ([503, 200], [503, 202])
