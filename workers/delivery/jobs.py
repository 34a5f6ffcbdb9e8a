"""Delivery jobs: send a state change's notifications; retry or dead-letter failures.

Delivery failures are retried by scheduling a `deliver` job with jittered exponential
backoff that honours the vendor's Retry-After; RQ's own Retry is kept only for jobs that
die mid-run (a killed worker), which RQ re-runs once it notices (see workers.runtime.runner for
how soon). What a single send does, exactly once, is `workers.delivery.send`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core import metrics
from core.incidents.record import Incident
from workers.context import Context, current
from workers.delivery.scheduling import backoff, digest, schedule, severity_of
from workers.delivery.send import Delivery, send_all
from workers.notifiers.base import Action, Metered, PermanentError, RetryableError

ACTIONS: tuple[Action, ...] = (
    "trigger",
    "escalate",
    "acknowledge",
    "resolve",
    "severity_raised",
    "status_update_due",
    "status_update",
    "postmortem_due",
    "note",
    "refresh",
)


def deliver(
    key: str, tag: str, rows: list[list[str]], attempt: int = 0, incident: Incident | None = None
) -> None:
    """Send deliveries (rows of [target, action, text]); retry or dead-letter failures.

    With `ctx.split_queues` the chat rows become a `deliver_chat` job on the chat
    queue and only the pages are sent here: a slow Slack never holds a page. A caller
    that has just read the incident passes it (one read less per page).
    """
    ctx = current()
    if ctx.split_queues:
        chat = [row for row in rows if _is_chat(ctx, row[0])]
        if chat:
            rows = [row for row in rows if row not in chat]
            job_id = f"chat-{digest(key, tag, repr(chat))}-{attempt}"
            schedule(ctx, None, deliver_chat, [key, tag, chat, attempt], job_id, ctx.chat_queue)
    _send(ctx, key, tag, rows, attempt, deliver, incident)


def deliver_chat(key: str, tag: str, rows: list[list[str]], attempt: int = 0) -> None:
    """`deliver` for chat rows, on the chat queue; its retries stay there."""
    ctx = current()
    _send(ctx, key, tag, rows, attempt, deliver_chat)


def _send(
    ctx: Context,
    key: str,
    tag: str,
    rows: list[list[str]],
    attempt: int,
    again_with: Callable[..., None],
    incident: Incident | None = None,
) -> None:
    if not rows:
        return
    func = again_with.__name__
    deliveries = [Delivery(target, action(name), text) for target, name, text in rows]
    failed = send_all(ctx, key, tag, deliveries, incident)
    retry: list[tuple[Delivery, RetryableError]] = []
    waiting = [(d, e) for d, e in failed if isinstance(e, Metered)]
    if waiting:
        _wait_turn(ctx, key, tag, waiting, attempt, again_with)
    for delivery, error in failed:
        if isinstance(error, Metered):
            continue
        if isinstance(error, RetryableError) and attempt + 1 < ctx.max_attempts:
            retry.append((delivery, error))
        else:
            why = "permanent" if isinstance(error, PermanentError) else "out of retries"
            args = [key, tag, rows_of([delivery]), 0]
            error_text = f"{why}: {error}"
            ctx.dead_letters.add(key, func, args, error_text, attempt + 1, ctx.clock())
            metrics.dead_letters.set(ctx.dead_letters.count())
    if retry:
        delay = backoff(ctx, attempt, max(e.retry_after or 0.0 for _, e in retry))
        again = rows_of([d for d, _ in retry])
        job_id = f"dlv-{digest(key, tag, repr(again))}-{attempt + 1}"
        at = ctx.clock() + delay
        chat = again_with is deliver_chat
        queue = ctx.chat_queue if chat else ctx.queue_for(severity_of(ctx, key))
        schedule(ctx, at, again_with, [key, tag, again, attempt + 1], job_id, queue)


def _wait_turn(
    ctx: Context,
    key: str,
    tag: str,
    waiting: list[tuple[Delivery, Metered]],
    attempt: int,
    again_with: Callable[..., None],
) -> None:
    # our own meter said "not yet": no failure, so the same attempt, exactly when told
    # (no backoff, no jitter: the meter already orders the waiters)
    wait = max(e.retry_after or 1.0 for _, e in waiting)
    at = ctx.clock() + timedelta(seconds=wait)
    again = rows_of([d for d, _ in waiting])
    job_id = f"dlv-{digest(key, tag, repr(again))}-{attempt}-w{at.timestamp():.0f}"
    chat = again_with is deliver_chat
    queue = ctx.chat_queue if chat else ctx.queue_for(severity_of(ctx, key))
    schedule(ctx, at, again_with, [key, tag, again, attempt], job_id, queue)


def _is_chat(ctx: Context, name: str) -> bool:
    target = ctx.policy.targets.get(name)
    return target is not None and target.slack is not None


def rows_of(deliveries: list[Delivery]) -> list[list[str]]:
    """Deliveries as job arguments: plain lists survive serialization and replays."""
    return [[d.target, d.action, d.text] for d in deliveries]


def action(name: str) -> Action:
    """A notification action by name; ValueError for an unknown one."""
    if name not in ACTIONS:
        raise ValueError(f"unknown notification action {name!r}")
    return ACTIONS[ACTIONS.index(name)]
