"""`alertgw worker`: N processes, each an intake thread plus a non-forking RQ worker.

Layout per process: the intake loop (hand-off -> incidents -> changes -> RQ jobs) runs in
a thread; the RQ worker runs in the main thread, because it handles SIGTERM/SIGINT and
job timeouts with signals. It is a SimpleWorker (no fork per job: ~140 jobs/s per
process instead of ~50), started `with_scheduler=True` so escalation steps, reminders and
retries come due; RQ lets one scheduler hold the lock at a time, another takes over if it
dies. It takes jobs of SEV1/SEV2 incidents from their own queue first, so a flood of
SEV4 never holds a page; chat (Slack) deliveries have a queue and a worker thread of
their own, so a slow or rate-limited Slack never holds a PagerDuty page. Each process
serves Prometheus `/metrics` on `metrics_port + index`.

RQ's defaults notice a job abandoned by a dead worker only after ~11 minutes (heartbeat
TTL of job timeout + 60 s, registry maintenance every 10 minutes, a 405 s blocking
dequeue in between). Here the heartbeat is the job timeout + 5 s, maintenance runs every
5 s and the dequeue blocks 1 s at a time, so a killed job is retried within ~35 s. The
intake's own entries (hand-off, changes) of a killed worker are claimed after
ALERTGW_CLAIM_IDLE_SECONDS (30 s by default). SIGTERM and SIGINT stop a process within
seconds (workers/runtime/stopping.py); `--processes N` runs under workers/runtime/supervisor.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from core.logs import rq_level
from core.metrics import RefreshingRegistry
from core.reload import LivePolicy
from core.sentry import RuleSecrets, init_sentry
from core.settings import Settings
from workers import context, jobs
from workers.context import Context
from workers.intake.reader import Intake
from workers.notifiers import build_notifiers, close_notifiers
from workers.runtime.metrics_server import PortInUse, serve_metrics
from workers.runtime.refresh import Refresher
from workers.runtime.stopping import POLL_SECONDS, Stop

log = logging.getLogger(__name__)
WorkerT = TypeVar("WorkerT", bound=SimpleWorker)

HEARTBEAT_GRACE_SECONDS = 5
REDIS_RETRY_SECONDS = 0.5  # the intake loop's pause after a Redis error
HEARTBEAT_EVERY_SECONDS = 1.0  # how often an idle or busy worker refreshes its own key
MAINTENANCE_SECONDS = 5
WORKER_TTL_SECONDS = 20  # RQ blocks on dequeue for this minus 15 s between maintenance
CLAIM_EVERY_SECONDS = 5.0  # how often the intake looks for a dead worker's entries


class Worker(SimpleWorker):
    """A SimpleWorker whose running jobs look abandoned seconds, not minutes, after death.

    RQ refreshes the worker's own key three times per job (before and after the dequeue,
    after the job), each time as three separate commands: 9 of the ~25 Redis round trips
    a job costs. The key lives `worker_ttl + 60` s, so refreshing it once a second, in
    one pipeline, keeps it just as alive.
    """

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return int(job.timeout or jobs.JOB_TIMEOUT_SECONDS) + HEARTBEAT_GRACE_SECONDS

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is not None:  # part of RQ's own job bookkeeping: costs no round trip
            super().heartbeat(timeout, pipeline=pipeline)
            return
        last = self.last_heartbeat
        if timeout is None and last is not None and _since(last) < HEARTBEAT_EVERY_SECONDS:
            return
        with self.connection.pipeline() as batch:
            super().heartbeat(timeout, pipeline=batch)
            batch.execute()

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """The next job; an idle worker looks at the stop request every `POLL_SECONDS`.

        RQ blocks for its whole dequeue timeout and looks at its stop flag only after a
        job: a stopped idle worker would wait up to that timeout. Blocking in one-second
        slices costs one BLPOP a second per idle worker.
        """
        if timeout is None:  # burst: RQ does not block
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while not self._stop_requested:
            # RQ gives up a blocking dequeue only when its idle time runs out
            found = super().dequeue_job_and_maintain_ttl(POLL_SECONDS, POLL_SECONDS)
            if found is not None:
                return found
        raise StopRequested

    def stop(self) -> None:
        """Stop after the current job, or within `POLL_SECONDS` when idle."""
        self._stop_requested = True


class MainWorker(Worker):
    """The main thread's worker; its scheduler also moves the chat queue's due jobs.

    RQ forks the scheduler process as `work()` starts. A fork copies the locks other
    threads hold at that instant (logging's, a Redis pool's) and the child can hang on
    one forever: then no retry or escalation step ever comes due. So the process's
    other threads start only after that fork (`then_start`).
    """

    also_scheduled: tuple[Queue, ...] = ()
    then_start: tuple[threading.Thread, ...] = ()

    def _install_signal_handlers(self) -> None:
        pass  # the process's Stop handles SIGTERM and SIGINT for every loop at once

    def stop(self) -> None:
        """Stop after the current job; tell the scheduler fork now, which takes a second."""
        super().stop()
        process = self.scheduler._process if self.scheduler is not None else None
        if process is not None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)  # teardown joins it

    def release_scheduler_locks(self) -> None:
        """Give up this worker's scheduler locks, so another worker's scheduler takes over."""
        if self.scheduler is not None:
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]

    def _start_scheduler(self, *args: Any, **kwargs: Any) -> None:
        # RQ schedules the worker's own queues; the chat worker runs no scheduler
        own = self.queues
        self.queues = [*own, *self.also_scheduled]
        try:
            super()._start_scheduler(*args, **kwargs)
        finally:
            self.queues = own
            for thread in self.then_start:
                thread.start()


class ChatWorker(Worker):
    """Serves the chat queue from a thread, so a slow Slack never holds a page.

    Signals belong to the main thread (its worker stops this one), and job timeouts use
    a timer instead of SIGALRM, which only the main thread can receive.
    """

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def _since(moment: datetime) -> float:
    return (datetime.now(UTC) - moment.replace(tzinfo=UTC)).total_seconds()


def build_context(settings: Settings) -> Context:
    """The live context of a worker process: rules from files, real notifiers."""
    live = LivePolicy(settings.rules)
    client = redis.Redis.from_url(settings.redis_url)
    notifiers = build_notifiers(settings, client)
    return Context(
        settings,
        client,
        lambda: live.current,
        notifiers,
        reload=live.reload,
        split_queues=True,
        inline_opened=True,
    )


def build_intake(ctx: Context, consumer: str) -> Intake:
    """The intake loop of a worker process, claiming a dead worker's entries after
    ALERTGW_CLAIM_IDLE_SECONDS."""
    idle = ctx.settings.claim_idle_seconds
    # look for them at least twice per claim delay
    every = min(CLAIM_EVERY_SECONDS, idle / 2)
    return Intake(ctx, consumer, claim_idle_ms=int(idle * 1000), claim_every=every)


def run(settings: Settings, processes: int, metrics_port: int, burst: bool) -> int:
    """Run `processes` worker processes until stopped; the exit status."""
    if processes <= 1:
        return run_process(settings, 0, metrics_port, burst)
    from workers.runtime.supervisor import supervise

    return supervise(processes, metrics_port, burst)


def run_process(settings: Settings, index: int, metrics_port: int, burst: bool) -> int:
    """One worker process: intake thread, refresher thread, RQ worker in this thread.

    `metrics_port` 0 serves the metrics on a free port; a burst run serves none.
    """
    stop = Stop()
    stop.install()  # before anything slow: a signal during start-up stops it too
    ctx = build_context(settings)
    # the routing keys and webhook URLs of the rules active at each event are scrubbed too
    init_sentry(settings, "worker", RuleSecrets(lambda: ctx.policy))
    context.install(ctx)
    refresher = Refresher(ctx)
    metrics = None
    if not burst:
        port = metrics_port + index if metrics_port else 0
        try:
            metrics = serve_metrics(port, RefreshingRegistry(refresher.refresh))
        except PortInUse as error:
            print(f"alertgw worker: {error}", file=sys.stderr)
            return 2
        log.info("worker %d: metrics on :%d/metrics", index, metrics.server_port)
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    intake = build_intake(ctx, consumer)
    intake.ensure_groups()
    # the urgent queue first: RQ takes from the first queue that has a job
    queues = [ctx.urgent_queue, ctx.queue]
    worker = _worker(MainWorker, settings, queues, f"{consumer}-{index}")
    worker.also_scheduled = (ctx.chat_queue,)
    chat = _worker(ChatWorker, settings, [ctx.chat_queue], f"{consumer}-{index}-chat")
    # RQ logs its housekeeping every few seconds and three lines per job at INFO;
    # alertgw logs what it sends itself. RQ's lines show with ALERTGW_LOG_LEVEL=DEBUG.
    level = rq_level(settings.log_level)
    if burst:
        intake.drain()
        refresher.refresh()
        worker.work(burst=True, with_scheduler=True, logging_level=level)
        chat.work(burst=True, logging_level=level)
        return 0
    threads = [
        threading.Thread(
            target=_keep_polling, args=(intake, stop.requested), name="intake", daemon=True
        ),
        threading.Thread(target=refresher.run, args=(stop.requested,), name="refresh", daemon=True),
        threading.Thread(target=chat.work, kwargs={"logging_level": level}, name="chat"),
    ]
    worker.then_start = tuple(threads)  # after RQ forks its scheduler (MainWorker)
    stop.on_request(worker.stop)
    stop.on_request(chat.stop)
    # a killed scheduler keeps its lock for a minute, and no retry or escalation step of
    # these queues comes due meanwhile: a forced exit hands the lock back first
    stop.before_forced_exit(worker.release_scheduler_locks)
    log.info("worker %d: started (delivery: %s)", index, settings.delivery)
    try:
        worker.work(with_scheduler=True, logging_level=level)
    finally:
        stop.request("the RQ worker stopped")  # also when it stopped on its own (an error)
        for thread in threads:
            if thread.is_alive():
                thread.join()  # bounded: the job timeout, then the stop deadline forces
        if metrics is not None:
            metrics.shutdown()
        close_notifiers(ctx.notifiers)
    log.info("worker %d: stopped", index)
    return 0


def _keep_polling(intake: Intake, stop: threading.Event) -> None:
    """Run the intake loop until `stop`, through Redis outages (a restart, a failover).

    What a dead connection interrupted is safe: an entry is applied and acknowledged in
    one atomic step, and one read but not applied stays pending until claimed.
    """
    while not stop.is_set():
        try:
            intake.run(stop)
        except RedisError as error:
            log.warning("intake: Redis unavailable (%s); retrying", type(error).__name__)
            stop.wait(REDIS_RETRY_SECONDS)


def _worker(kind: type[WorkerT], settings: Settings, queues: list[Queue], name: str) -> WorkerT:
    return kind(
        queues,
        connection=redis.Redis.from_url(settings.redis_url),
        name=name,
        exception_handlers=[_dead_letter_when_out_of_retries],
        maintenance_interval=MAINTENANCE_SECONDS,
        worker_ttl=WORKER_TTL_SECONDS,
    )


def _dead_letter_when_out_of_retries(
    job: Job, exc_type: type[BaseException], exc: BaseException, _tb: TracebackType | None
) -> bool:
    # Delivery failures are handled inside the jobs; what reaches RQ is a bug or a crash.
    # RQ retries those itself; once it gives up, keep the job as a dead letter.
    if job.retries_left:
        return True
    ctx = context.current()
    args: list[Any] = list(job.args)
    key = str(args[0]) if args else "?"
    func = (job.func_name or "?").rsplit(".", 1)[-1]
    error = f"{func} failed: {exc_type.__name__}"
    ctx.dead_letters.add(key, func, args, error, 1 + jobs.ABANDONED_RETRIES, ctx.clock())
    return True
