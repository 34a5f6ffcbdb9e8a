"""`alertgw worker --processes N`: N worker processes that start and stop together.

The parent forwards SIGTERM/SIGINT to every child and exits once all have exited, with
the highest exit status. A child that exits on its own (its metrics port in use, a
crash) stops the others: a pod with fewer workers than it says would rather be
restarted. A second signal, or children still running past the stop deadline, ends
every child and their own children (RQ's scheduler forks) at once.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from workers.runtime.stopping import FORCED_EXIT_STATUS, STOP_DEADLINE_SECONDS, force_exit

log = logging.getLogger(__name__)

# The children force their own exit at STOP_DEADLINE_SECONDS; this is the parent's
# backstop for a child that cannot even do that.
BACKSTOP_SECONDS = STOP_DEADLINE_SECONDS + 1


def supervise(processes: int, metrics_port: int, burst: bool) -> int:
    """Run `processes` worker processes until stopped; the exit status."""
    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(target=_child, args=(i, metrics_port, burst), name=f"alertgw-worker-{i}")
        for i in range(processes)
    ]
    stop_requested_at: list[float] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop_requested_at:
            name = signal.Signals(signum).name
            log.warning("second %s: stopping every worker process at once", name)
            force_exit(FORCED_EXIT_STATUS)
        stop_requested_at.append(time.monotonic())
        _signal_all(children, signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for child in children:
        child.start()
    first_failure: int | None = None
    running = list(children)
    while running:
        ended = wait([child.sentinel for child in running], timeout=0.5)
        for child in [c for c in running if c.sentinel in ended]:
            running.remove(child)
            child.join()  # its sentinel can be ready a moment before its exit status is
            if not stop_requested_at:
                first_failure = _status(child)
                log.error("%s exited (status %s): stopping the others", child.name, first_failure)
                stop_requested_at.append(time.monotonic())
                _signal_all(running, signal.SIGTERM)
        if stop_requested_at and time.monotonic() - stop_requested_at[0] > BACKSTOP_SECONDS:
            log.error("worker processes still running after the stop deadline: ending them")
            force_exit(FORCED_EXIT_STATUS)
    if first_failure is not None:
        return first_failure or 1  # a child that ends on its own is a failure
    return max(_status(child) for child in children)


def _status(child: BaseProcess) -> int:
    # a child the forwarded signal ended before it could handle signals had nothing to stop
    if child.exitcode in (-signal.SIGTERM, -signal.SIGINT):
        return 0
    return abs(child.exitcode or 0)


def _signal_all(children: Sequence[BaseProcess], signum: int) -> None:
    for child in children:
        if child.pid is not None and child.is_alive():
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.kill(child.pid, signum)


def _child(index: int, metrics_port: int, burst: bool) -> None:
    from core import logs
    from core.settings import load_settings
    from workers.runtime.runner import run_process

    # Out of the terminal's process group: Ctrl-C reaches the parent alone, which passes
    # it on once. Had each child seen it too, the forwarded copy would be a second signal.
    os.setpgrp()
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    raise SystemExit(run_process(settings, index, metrics_port, burst))
