"""The RQ jobs, by the names they are queued under: one per state change, escalation step
or reminder, sweeps of reminders and auto-resolves, plus delivery retries.

RQ stores a job's function as a dotted name and imports it when the job runs, possibly
long after, on a worker of another version. So every job is queued as
`workers.jobs.<name>` (`workers.delivery.scheduling.job_name`), whichever module defines it, and
this module keeps those names: renaming or removing one strands the jobs already queued
under it (tests/workers/test_job_names.py). What each job does lives in
`workers.incidents.changes`, `workers.escalation.steps`, `workers.escalation.reminders`,
`workers.delivery.jobs`, `workers.escalation.flapping`, `workers.escalation.incident_channels` and
`workers.escalation.storms`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from workers.context import Context
from workers.delivery.jobs import deliver, deliver_chat
from workers.delivery.scheduling import ABANDONED_RETRIES, JOB_TIMEOUT_SECONDS, backoff, schedule
from workers.escalation.flapping import flap_started, settle_flap
from workers.escalation.incident_channels import open_channel
from workers.escalation.reminders import remind, remind_due
from workers.escalation.steps import run_step
from workers.escalation.storms import storm_check, storm_refresh
from workers.incidents.autoresolve import auto_resolve_due
from workers.incidents.changes import INLINE_PAUSE, enqueue_change, on_change

__all__ = [
    "ABANDONED_RETRIES",
    "INLINE_PAUSE",
    "JOBS",
    "JOB_TIMEOUT_SECONDS",
    "auto_resolve_due",
    "backoff",
    "deliver",
    "deliver_chat",
    "enqueue_change",
    "flap_started",
    "on_change",
    "open_channel",
    "remind",
    "remind_due",
    "replay",
    "run_step",
    "settle_flap",
    "storm_check",
    "storm_refresh",
]

# Every job name ever queued, and what runs it now.
JOBS: dict[str, Callable[..., None]] = {
    "on_change": on_change,
    "run_step": run_step,
    "remind": remind,
    "remind_due": remind_due,
    "deliver": deliver,
    "deliver_chat": deliver_chat,
    "auto_resolve_due": auto_resolve_due,
    "flap_started": flap_started,
    "settle_flap": settle_flap,
    "open_channel": open_channel,
    "storm_check": storm_check,
    "storm_refresh": storm_refresh,
}

log = logging.getLogger(__name__)


def replay_requested(ctx: Context) -> int:
    """Replay the dead letters the console asked for (the gateway cannot run jobs); how many.

    Each worker's refresher calls this every few seconds; `take` lets one of them have
    each letter."""
    letters = ctx.dead_letters
    replayed = 0
    for letter_id in letters.replays_requested():
        letter = letters.take(letter_id)
        if letter is not None:
            replay(ctx, letter.func, letter.args, letter.id)
            log.info("replaying dead letter %s (%s)", letter.id, letter.func)
            replayed += 1
        letters.replay_requested_done(letter_id)
    return replayed


def replay(ctx: Context, func: str, args: list[Any], letter_id: str) -> None:
    """Run a dead-lettered job again (from the start of its retries)."""
    if func not in JOBS:
        raise ValueError(f"dead letter {letter_id} names an unknown job {func!r}")
    job = JOBS[func]
    if func in ("deliver", "deliver_chat"):
        job = deliver  # routes its chat rows to the chat queue again
        args = [*args[:3], 0]
    schedule(ctx, None, job, args, f"replay-{letter_id}")
