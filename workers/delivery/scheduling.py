"""Putting a job on an RQ queue, now or later, under its stable name.

Job ids are deterministic and enqueued with `unique=True`, so the dispatcher replaying a
change, or two workers scheduling the same step, make one job. Every job is enqueued by
its name in `workers.jobs` (`workers.jobs.deliver`, not the module that defines it):
jobs queued in Redis outlive the code that queued them, so that name is what a worker of
an older or newer version finds, whatever module the function moves to.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from workers.context import Context

JOB_MODULE = "workers.jobs"  # the module every job is named after (see the docstring)
JOB_TIMEOUT_SECONDS = 20  # a vendor call times out well before this
ABANDONED_RETRIES = 3  # re-runs of a job whose worker died mid-run
RESULT_TTL_SECONDS = 10
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


def digest(*parts: str) -> str:
    """A short stable hash of `parts`, for job ids."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def job_name(func: Callable[..., None]) -> str:
    """The dotted name RQ stores for `func`: its alias in `workers.jobs`."""
    return f"{JOB_MODULE}.{func.__name__}"


def schedule(
    ctx: Context,
    at: datetime | None,
    func: Callable[..., None],
    args: list[Any],
    job_id: str,
    queue: Queue | None = None,
) -> bool:
    """Enqueue `func(*args)` now (`at` None) or at `at`; False if that job id exists.

    On `ctx.queue` unless another `queue` is given (urgent jobs, chat deliveries)."""
    if at is not None and at.microsecond:
        # RQ's scheduler keeps whole seconds (truncated): round up, never run early,
        # or a retry could come before the vendor's Retry-After
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    options: dict[str, Any] = {
        "job_id": job_id,
        "unique": True,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "retry": Retry(max=ABANDONED_RETRIES),
        # nothing reads results: keep finished jobs seconds, not RQ's 500 s (memory). Not
        # 0: RQ 3.0 then deletes the job and, for one re-run after its worker died, fails
        # on the dead execution's expired record and runs it again (test_faults_workers)
        "result_ttl": RESULT_TTL_SECONDS,
    }
    target = ctx.queue if queue is None else queue
    try:
        if at is None:
            target.enqueue(job_name(func), *args, **options)
        else:
            target.enqueue_at(at, job_name(func), *args, **options)
    except DuplicateJobError:
        return False
    return True


def backoff(ctx: Context, attempt: int, retry_after: float) -> timedelta:
    """Exponential backoff with full jitter, never sooner than the vendor's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    # RQ's scheduler keeps whole seconds and `schedule` rounds up, so a fractional jitter
    # put every first retry on the same second (found by tests/test_faults_vendors.py):
    # draw whole seconds from the upper half instead
    jittered = ctx.rng.randint(math.ceil(ceiling / 2), math.floor(ceiling))
    return timedelta(seconds=max(retry_after, jittered))


def severity_of(ctx: Context, key: str) -> str | None:
    """The incident's severity, to pick its queue (None without `split_queues`).

    One HGET: the changes stream and retries carry the incident key, not its severity.
    """
    if not ctx.split_queues:
        return None
    severity = ctx.redis.hget(ctx.store.key_of(key), "severity")
    return severity.decode() if isinstance(severity, bytes) else None
