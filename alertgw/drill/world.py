"""The system a drill runs in: the real gateway app and the real worker code, one process.

The gateway is the Starlette app behind a TestClient; the worker side is the intake and
the RQ jobs it makes, run here in order instead of by worker processes. Both read one
virtual clock, which only moves when the drill moves it: a job scheduled for 10:05 runs
when the clock reaches 10:05, with the clock at 10:05, however long the machine takes.
Key expiry follows the same clock (`World._age_keys`).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from starlette.testclient import TestClient

from alertgw.drill.recorder import Recorder
from core.incidents.record import from_timestamp
from core.reload import LivePolicy
from core.rules.model import Target
from core.settings import Settings
from gateway.app import create_app
from workers import context
from workers.context import Context
from workers.intake.reader import Intake
from workers.notifiers.base import Notifier


class VirtualClock:
    """The drill's now; moved forward by the drill, never by the machine."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)  # time never goes back


class DrillRunError(Exception):
    """The drill could not be played (the gateway refused an event, a job failed)."""


@dataclass
class DrillContext(Context):
    """A worker context whose every notification ends in the drill's recorder.

    Delivery is dry-run, so a target whose credential is empty (the shipped rules with no
    environment) is still "told", as it would be once the credential is set.
    """

    def notifier_for(self, target: Target) -> Notifier | None:
        return self.notifiers[0]


class World:
    """Gateway, intake and jobs on one Redis under one key prefix, on a virtual clock."""

    def __init__(
        self, http: TestClient, ctx: DrillContext, clock: VirtualClock, token: str
    ) -> None:
        self.http = http
        self.ctx = ctx
        self.clock = clock
        self.token = token
        self.start = clock.now
        self.intake = Intake(ctx, "drill", block_ms=10, claim_every=3600.0)
        self.intake.ensure_groups()
        self._scheduled = ScheduledJobRegistry(queue=ctx.queue)  # type: ignore[no-untyped-call]

    @property
    def recorder(self) -> Recorder:
        recorder = self.ctx.notifiers[0]
        assert isinstance(recorder, Recorder)
        return recorder

    def settle(self) -> None:
        """Do everything the workers would do now: intake, then the jobs queued."""
        while self.intake.drain() + self._run_queued():
            pass

    def advance(self, moment: datetime) -> None:
        """Run every job due up to `moment`, each at its own time, then stand at `moment`."""
        self.settle()
        while True:
            due: Any = self.ctx.redis.zrangebyscore(
                self._scheduled.key, "-inf", moment.timestamp(), start=0, num=1, withscores=True
            )
            if not due:
                break
            job_id, score = due[0]
            self._move_to(from_timestamp(score))
            self.ctx.redis.zrem(self._scheduled.key, job_id)
            self._run(job_id.decode())
            self.settle()
        self._move_to(moment)

    def _move_to(self, moment: datetime) -> None:
        before = self.clock.now
        self.clock.move_to(moment)
        self._age_keys(self.clock.now - before)

    def _age_keys(self, elapsed: timedelta) -> None:
        """Let `elapsed` of virtual time pass for Redis expiry too.

        Incidents are forgotten, and sent markers lapse, by key TTLs, which Redis counts
        in real time: a drill's hour passes in milliseconds. So every key under the
        world's prefix that has a TTL loses `elapsed` of it, and goes when none is left.
        """
        lost = int(elapsed.total_seconds() * 1000)
        if lost <= 0:
            return
        client = self.ctx.redis
        keys = list(client.scan_iter(match=f"{self.ctx.prefix}*", count=1000))
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pttl(key)
            ttls = pipe.execute()
        with client.pipeline(transaction=True) as pipe:
            for key, ttl in zip(keys, ttls, strict=True):
                if ttl > lost:
                    pipe.pexpire(key, ttl - lost)
                elif ttl > 0:
                    pipe.delete(key)
            pipe.execute()

    def _run_queued(self) -> int:
        return run_queued(self.ctx.queue, self._run)

    def _run(self, job_id: str) -> None:
        try:
            run_job(self.ctx.redis, job_id)
        except Exception as error:  # a job failing is the drill failing: say which job
            raise DrillRunError(f"job {job_id} failed at {self.clock.now}: {error!r}") from error

    def forget_jobs(self) -> None:
        """Delete RQ's keys of this world's queue (they live outside the key prefix)."""
        ids = [*self.ctx.queue.get_job_ids(), *self._scheduled.get_job_ids()]
        for job_id in ids:
            self.ctx.redis.delete(f"rq:job:{job_id}")
        self.ctx.redis.delete(self.ctx.queue.key, self._scheduled.key)


def run_job(connection: redis.Redis, job_id: str) -> None:
    """Run one RQ job here and now, as a worker would, then delete it."""
    job = Job.fetch(job_id, connection=connection)
    try:
        job.func(*job.args, **job.kwargs)
    finally:
        job.delete()


def run_queued(queue: Queue, run: Callable[[str], None]) -> int:
    """Run every job waiting in `queue`, and those they enqueue; returns how many."""
    ran = 0
    while job_ids := queue.get_job_ids():
        for job_id in job_ids:
            queue.remove(job_id)
            run(job_id)
            ran += 1
    return ran


@contextlib.contextmanager
def world(redis_url: str, prefix: str, rules: Path, start: datetime) -> Iterator[World]:
    """A world on `redis_url` under `prefix`; its RQ keys are deleted when it closes.

    Raises RulesError when the rules do not load.
    """
    clock = VirtualClock(start)
    token = secrets.token_hex(16)
    settings = Settings(
        redis_url=redis_url,
        redis_prefix=prefix,
        rules=rules,
        delivery="dry-run",
        allow_unsigned=True,  # the drill posts as every source, and as PagerDuty and Slack
        api_token=token,
    )
    live = LivePolicy(rules)
    client = redis.Redis.from_url(redis_url)
    ctx = DrillContext(settings, client, lambda: live.current, [], clock=clock)
    ctx.notifiers = [Recorder(ctx, clock)]
    context.install(ctx)  # job functions find the context here, as in a worker process
    app = create_app(settings, live, clock=clock)
    try:
        with TestClient(app, raise_server_exceptions=True) as http:
            running = World(http, ctx, clock, token)
            try:
                yield running
            finally:
                running.forget_jobs()
    finally:
        client.close()
