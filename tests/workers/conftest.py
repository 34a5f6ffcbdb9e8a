"""A worker context on the test's Redis and key prefix, with recording notifiers; and
real gateway and worker processes (`processes`) against the fake vendors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from alertgw.drill.world import run_job, run_queued
from core.rules.model import Policy
from core.settings import Settings
from tests.fakes.vendors import (
    TEST_BOT_TOKEN,
    FakePagerDuty,
    FakeSlack,
    fake_pagerduty,
    fake_slack,
)
from tests.workers.e2e import System, system
from tests.workers.helpers import Clock, Recorder, SlackRecorder, policy
from workers import context
from workers.context import Context
from workers.intake.reader import Intake
from workers.notifiers import build_notifiers
from workers.notifiers.base import Notifier

__all__ = ["fake_pagerduty", "fake_slack"]  # fixtures, for `processes`


@dataclass
class Harness:
    """A worker in the test process: intake, queued and scheduled jobs run on demand."""

    ctx: Context
    clock: Clock
    pagerduty: Recorder
    slack: SlackRecorder
    intake: Intake

    def run_queued(self) -> int:
        """Run every job waiting in the queue (and those they enqueue); returns how many."""
        return run_queued(self.ctx.queue, self._run)

    def run_due(self) -> int:
        """Dispatch waiting work, then run jobs scheduled up to the clock's now, in order."""
        self.intake.drain()
        ran = self.run_queued()
        registry = ScheduledJobRegistry(queue=self.ctx.queue)
        while True:
            due = self.ctx.redis.zrangebyscore(
                registry.key, "-inf", self.clock.now.timestamp(), start=0, num=1
            )
            if not due:
                return ran
            self.ctx.redis.zrem(registry.key, due[0])
            self._run(due[0].decode())
            ran += 1 + self.run_queued()

    def scheduled(self) -> list[tuple[float, str, list[object]]]:
        """(seconds after now, function name, args) of every scheduled job."""
        registry = ScheduledJobRegistry(queue=self.ctx.queue)
        rows = self.ctx.redis.zrange(registry.key, 0, -1, withscores=True)
        result = []
        for job_id, score in rows:
            job = Job.fetch(job_id.decode(), connection=self.ctx.redis)
            name = job.func_name.rsplit(".", 1)[-1]
            result.append((score - self.clock.now.timestamp(), name, list(job.args)))
        return result

    def _run(self, job_id: str) -> None:
        run_job(self.ctx.redis, job_id)


def make_harness(
    client: redis.Redis,
    prefix: str,
    rules: Policy | None = None,
    delivery: str = "live",
    vendors: tuple[FakePagerDuty, FakeSlack] | None = None,
    notifiers: Sequence[Notifier] = (),
) -> Harness:
    """A harness with recording notifiers; or the real ones talking to `vendors`; or
    `notifiers` as given."""
    clock = Clock()
    pagerduty, slack = Recorder(), SlackRecorder()
    url = client.get_connection_kwargs().get("path")
    url = f"unix://{url}" if url else _tcp_url(client)
    urls = {}
    if vendors is not None:
        urls = {"pagerduty_events_url": vendors[0].events_url, "slack_api_url": vendors[1].api_url}
        urls["slack_bot_token"] = TEST_BOT_TOKEN
    settings = Settings(redis_url=url, redis_prefix=prefix, delivery=delivery, **urls)  # type: ignore[arg-type]
    active = rules or policy()
    used = build_notifiers(settings, client) if vendors else list(notifiers) or [pagerduty, slack]
    ctx = Context(settings, client, lambda: active, used, clock=clock)
    context.install(ctx)
    intake = Intake(ctx, "test-consumer", block_ms=10, claim_every=0)
    intake.ensure_groups()
    return Harness(ctx, clock, pagerduty, slack, intake)


@pytest.fixture
def harness(redis_client: redis.Redis, key_prefix: str) -> Iterator[Harness]:
    h = make_harness(redis_client, key_prefix)
    yield h
    _forget_jobs(h)


def _tcp_url(client: redis.Redis) -> str:
    kwargs = client.get_connection_kwargs()
    host, port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
    return f"redis://{host}:{port}/{kwargs.get('db', 0)}"


def _forget_jobs(h: Harness) -> None:
    # RQ keeps its own keys under `rq:`; drop the ones of this test's queue
    registry = ScheduledJobRegistry(queue=h.ctx.queue)
    for job_id in [*h.ctx.queue.get_job_ids(), *registry.get_job_ids()]:
        h.ctx.redis.delete(f"rq:job:{job_id}")
    h.ctx.redis.delete(h.ctx.queue.key, registry.key)


@pytest.fixture
def processes(
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
) -> Iterator[System]:
    """Gateway and worker processes on the test's Redis and fake vendors, none started yet
    (tests/workers/e2e.py); stopped and their RQ keys deleted after the test."""
    with system(redis_url, key_prefix, tmp_path, fake_pagerduty, fake_slack) as running:
        yield running
