"""Vendor faults: the real notifiers and jobs against misbehaving fake vendors.

PagerDuty answering 500, 429 with Retry-After, hanging past the client timeout,
resetting connections, or 400; Slack slow or rate limited. The jobs run in-process on
the test Redis with a settable clock (retries are RQ scheduled jobs: the clock moves
instead of the test sleeping); the HTTP is real, to the local fakes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from rq import Queue

from tests.fakes.vendors import TEST_BOT_TOKEN, FakePagerDuty, FakeSlack
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import entry, hand_off, policy
from tests.workers.notifiers.factories import ONCALL, notify
from workers.notifiers import PagerDutyNotifier, SlackNotifier
from workers.notifiers.base import RetryableError

KEY = "checkout-down:service=checkout"
TIMEOUT = 0.5  # the notifiers' HTTP timeout here; the fakes hang longer than this


@pytest.fixture
def rig(
    redis_client: redis.Redis,
    key_prefix: str,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
) -> Iterator[Harness]:
    """A worker in this process whose notifiers talk HTTP to the fakes."""
    h = make_harness(redis_client, key_prefix, policy())
    pagerduty = PagerDutyNotifier(
        fake_pagerduty.events_url,
        redis_client,
        key_prefix,
        TIMEOUT,
        clock=lambda: h.clock.now.timestamp(),
    )
    slack = SlackNotifier(fake_slack.api_url, TEST_BOT_TOKEN, TIMEOUT)
    h.ctx.notifiers = [pagerduty, slack]
    h.ctx.rng = random.Random(7)
    yield h
    pagerduty.close()
    _forget_jobs(h)
    for queue in (h.ctx.chat_queue, h.ctx.urgent_queue):
        for job_id in queue.get_job_ids():
            h.ctx.redis.delete(f"rq:job:{job_id}")
        h.ctx.redis.delete(queue.key)


def open_incident(h: Harness, fingerprint: str = "am:1") -> None:
    hand_off(h.ctx.redis, h.ctx.prefix, entry(fingerprint))
    h.run_due()


def run_jobs(queue: Queue) -> None:
    """Run the jobs waiting in one queue (the harness runs only the main queue)."""
    for job in queue.get_jobs():
        queue.remove(job.id)
        job.func(*job.args)
        job.delete()


def enqueue_statuses(pd: FakePagerDuty) -> list[int | None]:
    return [r.status for r in pd.requests if r.path == "/v2/enqueue"]


def retry_delays(h: Harness) -> list[float]:
    return [after for after, name, _ in h.scheduled() if name.startswith("deliver")]


def test_500_is_retried_with_jittered_backoff_until_it_recovers(
    rig: Harness, fake_pagerduty: FakePagerDuty
) -> None:
    fake_pagerduty.respond(500, times=2)
    open_incident(rig)
    first = retry_delays(rig)
    assert len(first) == 1
    assert 1.0 <= first[0] <= 2.0  # attempt 1: 2 s ceiling, full jitter over its upper half
    rig.clock.advance(timedelta(seconds=first[0]))
    rig.run_due()
    second = retry_delays(rig)
    assert len(second) == 1
    assert 2.0 <= second[0] <= 4.0
    rig.clock.advance(timedelta(seconds=second[0]))
    rig.run_due()
    assert enqueue_statuses(fake_pagerduty) == [500, 500, 202]
    assert len(fake_pagerduty.events(action="trigger")) == 1
    assert retry_delays(rig) == []
    assert rig.ctx.dead_letters.count() == 0


def test_jitter_spreads_the_retries_of_many_incidents(
    rig: Harness, fake_pagerduty: FakePagerDuty
) -> None:
    fake_pagerduty.respond(503, times=10)
    for n in range(10):
        hand_off(rig.ctx.redis, rig.ctx.prefix, entry(f"am:{n}", key=f"k{n}"))
    rig.run_due()
    delays = retry_delays(rig)
    assert len(delays) == 10
    assert all(1.0 <= d <= 2.0 for d in delays)
    assert len(set(delays)) > 1  # not a thundering herd at one instant


def test_429_waits_for_retry_after(rig: Harness, fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.respond(429, retry_after=30)
    open_incident(rig)
    assert retry_delays(rig) == [30.0]
    rig.clock.advance(timedelta(seconds=29))
    rig.run_due()
    assert enqueue_statuses(fake_pagerduty) == [429]
    rig.clock.advance(timedelta(seconds=1))
    rig.run_due()
    assert enqueue_statuses(fake_pagerduty) == [429, 202]


def test_a_hung_request_times_out_and_is_sent_again(
    rig: Harness, fake_pagerduty: FakePagerDuty
) -> None:
    fake_pagerduty.delay(TIMEOUT * 4)
    started = time.monotonic()
    open_incident(rig)
    assert time.monotonic() - started < TIMEOUT * 3  # the job did not wait for the fake
    assert "timed out" in " ".join(e.text for e in rig.ctx.store.timeline(KEY))
    rig.clock.advance(timedelta(seconds=retry_delays(rig)[0]))
    rig.run_due()
    # the hung request is answered after the client left; the retry went through
    tries = fake_pagerduty.wait_for(2, timeout=5, where=lambda r: r.path == "/v2/enqueue")
    assert {r.body["dedup_key"] for r in tries} == {KEY}
    assert retry_delays(rig) == []


def test_reset_connections_are_retried(rig: Harness, fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.reset(times=2)
    open_incident(rig)
    for n in range(2):
        failed = [e.text for e in rig.ctx.store.timeline(KEY) if e.kind == "delivery_failed"]
        assert len(failed) == n + 1
        assert "connection failed" in failed[-1]
        rig.clock.advance(timedelta(seconds=retry_delays(rig)[0]))
        rig.run_due()
    assert enqueue_statuses(fake_pagerduty) == [None, None, 202]


def test_400_is_dead_lettered_not_retried(rig: Harness, fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.respond(400)
    open_incident(rig)
    assert retry_delays(rig) == []
    [letter] = rig.ctx.dead_letters.list()
    assert letter.func == "deliver"
    assert letter.error.startswith("permanent: PagerDuty trigger for target 'oncall': HTTP 400")
    assert "rk-oncall" not in letter.error
    rig.clock.advance(timedelta(minutes=10))  # step 2 pages eng-lead; oncall never again
    rig.run_due()
    oncall = [r.status for r in fake_pagerduty.requests if r.body["routing_key"] == "rk-oncall"]
    assert oncall == [400]


def test_out_of_retries_is_dead_lettered(rig: Harness, fake_pagerduty: FakePagerDuty) -> None:
    rig.ctx.max_attempts = 3
    fake_pagerduty.respond(502, times=3)
    open_incident(rig)
    for _ in range(2):
        rig.clock.advance(timedelta(seconds=retry_delays(rig)[0]))
        rig.run_due()
    assert enqueue_statuses(fake_pagerduty) == [502, 502, 502]
    [letter] = rig.ctx.dead_letters.list()
    assert letter.error.startswith("out of retries")
    assert letter.attempts == 3


def test_the_rate_limit_per_routing_key_holds_across_processes(
    redis_client: redis.Redis, key_prefix: str, fake_pagerduty: FakePagerDuty
) -> None:
    # two notifiers stand for two worker processes: they share the limit through Redis
    now = time.time()
    notifiers = [
        PagerDutyNotifier(fake_pagerduty.events_url, redis_client, key_prefix, clock=lambda: now)
        for _ in range(2)
    ]
    refused: list[float] = []
    lock = threading.Lock()

    def send(notifier: PagerDutyNotifier, n: int) -> None:
        for _ in range(n):
            try:
                notifier.send(notify(ONCALL))
            except RetryableError as error:
                with lock:
                    refused.append(error.retry_after or 0.0)

    threads = [threading.Thread(target=send, args=(n, 80)) for n in notifiers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake_pagerduty.events()) == 120
    assert len(refused) == 40
    assert all(50.0 < wait <= 60.0 for wait in refused)
    for notifier in notifiers:
        notifier.close()


def test_a_slow_slack_does_not_delay_the_page(
    rig: Harness, fake_pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    rig.ctx.split_queues = True
    fake_slack.delay(TIMEOUT * 4)
    started = time.monotonic()
    hand_off(rig.ctx.redis, rig.ctx.prefix, entry())
    rig.intake.drain()
    run_jobs(rig.ctx.urgent_queue)  # a SEV1: the chat delivery waits on its own queue
    assert time.monotonic() - started < TIMEOUT
    assert len(fake_pagerduty.events(action="trigger")) == 1
    assert fake_slack.requests == []
    assert rig.ctx.queue.get_job_ids() == []  # a SEV1's jobs take the urgent queue
    [chat_job] = rig.ctx.chat_queue.get_jobs()
    assert chat_job.func_name == "workers.jobs.deliver_chat"


def test_a_rate_limited_slack_is_retried_on_its_own_queue(
    rig: Harness, fake_pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    rig.ctx.split_queues = True
    fake_slack.respond(429, retry_after=7)
    hand_off(rig.ctx.redis, rig.ctx.prefix, entry())
    rig.intake.drain()
    run_jobs(rig.ctx.urgent_queue)
    chat = rig.ctx.chat_queue
    job = chat.fetch_job(chat.get_job_ids()[0])
    assert job is not None
    chat.remove(job.id)
    job.func(*job.args)
    scheduled = chat.scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1
    due = chat.scheduled_job_registry.get_scheduled_time(scheduled[0])
    assert abs((due - rig.clock.now).total_seconds() - 7.0) < 1e-6
    assert len(fake_pagerduty.events(action="trigger")) == 1
    chat.scheduled_job_registry.remove(scheduled[0], delete_job=True)
