"""What a worker process runs with: settings, Redis, the policy, notifiers, a clock.

RQ calls job functions by name with plain arguments, so the objects a job needs live in
one process-wide Context, installed once by the runner (or by a test, with a fake clock
and recording notifiers).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from rq import Queue

from core.deadletters import DeadLetters
from core.incidents.store import IncidentStore
from core.rules.model import Policy, Target
from core.settings import Settings
from core.silences import SilenceStore
from workers.notifiers.base import Notifier
from workers.notifiers.dryrun import DryRunNotifier

# A delivery job that keeps failing is retried this many times, then dead-lettered.
MAX_ATTEMPTS = 8
URGENT = frozenset({"SEV1", "SEV2"})  # severities whose jobs go before all others


def utc_now() -> datetime:
    return datetime.now(UTC)


def queue_name(prefix: str) -> str:
    """The RQ queue of notification jobs; under the key prefix like every other key."""
    return f"{prefix}notify"


def chat_queue_name(prefix: str) -> str:
    """The RQ queue of chat (Slack) deliveries, served by workers of their own."""
    return f"{prefix}notify:chat"


def urgent_queue_name(prefix: str) -> str:
    """The RQ queue of jobs for SEV1/SEV2 incidents, which workers take first."""
    return f"{prefix}notify:urgent"


@dataclass
class Context:
    """Everything a job or the intake loop needs, built once per process."""

    settings: Settings
    redis: redis.Redis
    policy_source: Callable[[], Policy]
    notifiers: Sequence[Notifier]
    clock: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)
    max_attempts: int = MAX_ATTEMPTS
    reload: Callable[[], bool] | None = None  # re-read the rule files (see workers.runtime.refresh)
    # Chat deliveries as jobs on the chat queue (the runner serves it with a worker of
    # its own, so a slow Slack never holds a page) and SEV1/SEV2 jobs on the urgent queue
    # (taken first, so a flood of SEV4 never holds a page); off, all run on `queue`.
    split_queues: bool = False
    # A new incident's first step runs in the dispatcher, not as an RQ job (changes.py),
    # except until this moment, after an inline step was slow (a vendor hanging).
    inline_opened: bool = False
    inline_paused_until: datetime | None = field(default=None, init=False, repr=False)
    # grid points (epoch seconds) this process asked a reminder sweep for (reminders.py)
    reminder_sweeps: set[int] = field(default_factory=set, init=False, repr=False)
    # the same for auto-resolve sweeps (autoresolve.py)
    auto_resolve_sweeps: set[int] = field(default_factory=set, init=False, repr=False)

    @property
    def prefix(self) -> str:
        return self.settings.redis_prefix

    @property
    def policy(self) -> Policy:
        return self.policy_source()

    _store: IncidentStore | None = field(default=None, init=False, repr=False)
    _store_policy: Policy | None = field(default=None, init=False, repr=False)

    @property
    def store(self) -> IncidentStore:
        policy = self.policy
        if self._store is None or self._store_policy is not policy:  # rules may be reloaded
            every = {n: s.update_every for n, s in policy.severities.items() if s.update_every}
            self._store = IncidentStore(
                self.redis, self.prefix, policy.dedupe_window, every, policy.quiet_for
            )
            self._store_policy = policy
        return self._store

    _queues: dict[str, Queue] = field(default_factory=dict, init=False, repr=False)

    @property
    def queue(self) -> Queue:
        """The queue of incident jobs (changes, steps, reminders) and page deliveries."""
        return self._queue(queue_name(self.prefix))

    @property
    def chat_queue(self) -> Queue:
        """Where chat deliveries go: their own queue with `split_queues`, else `queue`."""
        return self._queue(chat_queue_name(self.prefix)) if self.split_queues else self.queue

    @property
    def urgent_queue(self) -> Queue:
        """Where SEV1/SEV2 jobs go: their own queue with `split_queues`, else `queue`."""
        return self._queue(urgent_queue_name(self.prefix)) if self.split_queues else self.queue

    def queue_for(self, severity: str | None) -> Queue:
        """The queue of an incident's jobs (changes, steps, reminders, page retries)."""
        return self.urgent_queue if severity in URGENT else self.queue

    def _queue(self, name: str) -> Queue:
        if name not in self._queues:  # one object per process: RQ's Queue is not free
            self._queues[name] = Queue(name, connection=self.redis)
        return self._queues[name]

    @property
    def silences(self) -> SilenceStore:
        return SilenceStore(self.redis, self.prefix)

    @property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.redis, self.prefix)

    @property
    def dry_run(self) -> bool:
        return self.settings.delivery == "dry-run"

    def notifier_for(self, target: Target) -> Notifier | None:
        """The notifier that delivers to `target`; in dry-run, the recorder."""
        if self.dry_run:
            return DryRunNotifier(self.store, self.clock)
        return next((n for n in self.notifiers if n.handles(target)), None)


_current: Context | None = None


def install(context: Context) -> None:
    """Make `context` the one job functions use in this process."""
    global _current
    _current = context


def current() -> Context:
    """The installed context; job functions call this first."""
    if _current is None:
        raise RuntimeError("no worker context installed (workers.context.install)")
    return _current
