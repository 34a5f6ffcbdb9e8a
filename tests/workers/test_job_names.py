"""Jobs keep the dotted names they were queued under, whatever module defines them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq.job import Job
from rq.utils import import_attribute

from tests.workers.conftest import Harness
from workers import jobs
from workers.delivery.scheduling import schedule

# The names an older alertgw queued jobs under (all in workers/jobs.py before the split):
# a job already in Redis at an upgrade runs under one of these.
QUEUED_BY_OLDER_VERSIONS = (
    "workers.jobs.on_change",
    "workers.jobs.run_step",
    "workers.jobs.remind",
    "workers.jobs.deliver",
    "workers.jobs.deliver_chat",
)


@pytest.mark.parametrize("name", QUEUED_BY_OLDER_VERSIONS)
def test_every_old_job_name_still_imports(name: str):
    # how RQ resolves a stored job's function when it runs the job
    assert import_attribute(name) is jobs.JOBS[name.rsplit(".", 1)[-1]]


@pytest.mark.parametrize("name", sorted(jobs.JOBS))
def test_jobs_are_queued_under_their_workers_jobs_name(harness: Harness, name: str):
    func = jobs.JOBS[name]
    assert func.__name__ == name  # the name `schedule` queues it under
    schedule(harness.ctx, None, func, [], f"name-{name}")
    later = harness.ctx.clock() + timedelta(minutes=1)
    schedule(harness.ctx, later, func, [], f"name-{name}-later")
    for job_id in (f"name-{name}", f"name-{name}-later"):
        stored = Job.fetch(job_id, connection=harness.ctx.redis)
        assert stored.func_name == f"workers.jobs.{name}"
        assert stored.func is func
