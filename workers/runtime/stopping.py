"""Stopping a worker promptly on SIGTERM or SIGINT, inside Kubernetes' grace period.

The first signal asks every loop of the process to stop: the intake stops reading, the
RQ workers (the chat thread's included) stop dequeuing within `POLL_SECONDS`, the
refresher and the metrics server stop. A job in flight finishes, bounded by the job
timeout. What is not finished stays where another worker finds it: an intake entry read
but not applied is pending until claimed, an RQ job killed mid-way is retried once its
heartbeat expires. A second signal, or a stop still running after
`STOP_DEADLINE_SECONDS`, ends the process at once, its RQ scheduler fork with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

POLL_SECONDS = 1  # how long an idle dequeue blocks before it looks at the stop request
# A stop that takes longer is forced. It stays under Kubernetes' default grace period
# (30 s) with room for the job timeout (20 s) of a delivery in flight.
STOP_DEADLINE_SECONDS = 23.0
FORCED_EXIT_STATUS = 130  # as a shell reports a process ended by Ctrl-C
OVERDUE_EXIT_STATUS = 1
LAST_WORDS_SECONDS = 1.0  # what a forced exit may still do first (release locks)


class Stop:
    """The process's stop request: the first signal asks, the second one forces."""

    def __init__(self, deadline: float = STOP_DEADLINE_SECONDS) -> None:
        self.requested = threading.Event()
        self._deadline = deadline
        self._callbacks: list[Callable[[], None]] = []
        self._last_words: list[Callable[[], None]] = []

    def on_request(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the first signal (in the main thread's signal handler), or now
        if the stop was requested already."""
        self._callbacks.append(callback)
        if self.requested.is_set():
            callback()

    def before_forced_exit(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the exit is forced, with at most `LAST_WORDS_SECONDS` for all."""
        self._last_words.append(callback)

    def install(self) -> None:
        """Handle SIGTERM and SIGINT in this (the main) thread."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def request(self, why: str) -> None:
        """Ask everything to stop, and force the exit if it is still running at the deadline."""
        if self.requested.is_set():
            return
        self.requested.set()
        log.info("stopping (%s): finishing the job in flight, taking no new work", why)
        for callback in self._callbacks:
            callback()
        overdue = threading.Timer(self._deadline, self._overdue)
        overdue.daemon = True
        overdue.start()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            log.warning("second %s: stopping at once", name)
            force_exit(FORCED_EXIT_STATUS, self._last_words)
        self.request(name)

    def _overdue(self) -> None:
        log.error("still running %.0f s after the stop request: stopping at once", self._deadline)
        force_exit(OVERDUE_EXIT_STATUS, self._last_words)


def force_exit(status: int, last_words: Iterable[Callable[[], None]] = ()) -> None:
    """End this process and every process it started, now; `last_words` get a second."""
    kill_descendants(os.getpid())
    said = threading.Thread(target=_say, args=(list(last_words),), daemon=True)
    said.start()
    said.join(LAST_WORDS_SECONDS)  # a Redis that hangs must not hold the exit
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(status)


def _say(last_words: list[Callable[[], None]]) -> None:
    for callback in last_words:
        try:
            callback()
        except Exception:  # exiting anyway: say why it could not
            log.warning("before exiting: %s failed", callback, exc_info=True)


def kill_descendants(pid: int) -> None:
    """SIGKILL every descendant of `pid` (RQ's scheduler fork, worker processes and theirs).

    Children are found in /proc; where there is none (not Linux), nothing is killed here
    and the children stop on their own signal.
    """
    for child in descendants(pid):
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.kill(child, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """The pids below `pid`, children before grandchildren."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int(stat_fields(entry.name)[1])
        except (OSError, ValueError):
            continue  # gone meanwhile
        parents.setdefault(parent, []).append(int(entry.name))
    found, level = [], [pid]
    while level:
        level = [child for p in level for child in parents.get(p, [])]
        found.extend(level)
    return found


def stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: 0 the state, 1 the parent.

    The name is in parentheses and may hold spaces or parentheses itself (`tmux: server`),
    so the fields start after the last `)`.
    """
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()
