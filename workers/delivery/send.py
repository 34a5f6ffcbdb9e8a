"""Sending an incident's notifications, each exactly once even when a job runs twice.

Before calling a vendor a delivery takes a "sending" marker (SET NX with a TTL longer
than a job may run) keyed by (incident, state change, target, action); success turns it
into "sent", kept for the dedupe window, and a failure releases it. A job re-run after a
crash therefore skips what was sent, and a sender that died mid-call leaves a marker
that lapses before RQ retries the job (at worst PagerDuty sees the same trigger twice,
which its dedup_key absorbs).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from core import metrics
from core.incidents.record import Incident
from core.rules.model import Policy, Target
from core.status_updates import posted_status
from workers.context import Context
from workers.notifiers.base import (
    Action,
    IncidentView,
    Notification,
    NotifierError,
    RetryableError,
    ThreadRef,
)
from workers.notifiers.dryrun import describe

log = logging.getLogger(__name__)

# Longer than a job may run (workers.delivery.scheduling.JOB_TIMEOUT_SECONDS), so the marker of a
# sender that died mid-call has lapsed by the time RQ notices and retries its job.
SENDING_TTL_SECONDS = 25
PAGES = ("trigger", "escalate")


@dataclass(frozen=True)
class Delivery:
    """One notification to send: to target `target` (a policy name), saying `action`."""

    target: str
    action: Action
    text: str = ""


def view(policy: Policy, incident: Incident) -> IncidentView:
    """The snapshot of an incident a notifier may see."""
    severity = policy.severities.get(incident.severity)
    return IncidentView(
        key=incident.key,
        severity=incident.severity,
        status=incident.status,
        title=incident.title,
        summary=incident.summary,
        service=incident.service,
        environment=incident.environment,
        source=incident.source,
        rule=incident.rule,
        pagerduty_severity=severity.pagerduty_severity if severity else "error",
        labels=incident.labels,
        links=incident.links,
        lead=incident.lead,
        alert_count=incident.alert_count,
        opened_at=incident.opened_at,
        received_at=incident.received_at,
        posted_status=posted_status(incident),
    )


def marker_key(prefix: str, key: str, tag: str, delivery: Delivery) -> str:
    """The sent marker of one delivery of one state change.

    A page is one page whether it says `trigger` or `escalate`: a state change run
    twice (dispatched by two readers, or a job re-run) reads `notified` after its first
    run paged the target, and would otherwise page it again as `escalate`.
    """
    action = "page" if delivery.action in PAGES else delivery.action
    digest = hashlib.sha256(f"{key}\0{tag}\0{delivery.target}\0{action}".encode())
    return f"{prefix}sent:{digest.hexdigest()[:32]}"


def send_all(
    ctx: Context,
    key: str,
    tag: str,
    deliveries: list[Delivery],
    incident: Incident | None = None,
) -> list[tuple[Delivery, NotifierError]]:
    """Send each delivery of one state change; returns those that failed, with why.

    `incident` is the incident as the caller just read it, if it did (else read here).
    """
    failed: list[tuple[Delivery, NotifierError]] = []
    current = incident or ctx.store.get(key)
    for delivery in deliveries:
        if current is None:
            log.info("incident forgotten, not sending", extra={"incident": key})
            return []
        if delivery.action in PAGES and current.status != "open":
            # acknowledged or resolved while this page waited (its turn under the vendor's
            # limit, a retry): paging now would open a vendor incident nobody resolves
            line = f"not paged: {delivery.target} ({current.status} before the page went out)"
            ctx.store.note(key, "not_paged", line, ctx.clock())
            continue
        try:
            send_one(ctx, current, tag, delivery)
        except NotifierError as error:
            failed.append((delivery, error))
        if _chat(ctx, delivery):
            # a root message posted just now gives the thread the next ones reply in
            current = ctx.store.get(key)
    return failed


def _chat(ctx: Context, delivery: Delivery) -> bool:
    target = ctx.policy.targets.get(delivery.target)
    return target is not None and target.slack is not None


def send_one(ctx: Context, incident: Incident, tag: str, delivery: Delivery) -> None:
    """Send one delivery unless it was already sent; raises NotifierError on failure."""
    policy, store, now = ctx.policy, ctx.store, ctx.clock()
    target = policy.targets.get(delivery.target)
    notifier = ctx.notifier_for(target) if target is not None else None
    if target is None or notifier is None:
        _skip(ctx, incident, delivery, "no notifier delivers to it", now)
        return
    if not ctx.dry_run and not target.configured:
        _skip(ctx, incident, delivery, "its credential is empty", now)
        return
    marker = marker_key(ctx.prefix, incident.key, tag, delivery)
    if not ctx.redis.set(marker, "sending", nx=True, ex=SENDING_TTL_SECONDS):
        if ctx.redis.get(marker) == b"sent":
            return
        # in flight elsewhere, or its sender died: look again once the marker lapses
        wait = max(1, int(ctx.redis.ttl(marker)))
        raise RetryableError("another worker is sending this", retry_after=wait)
    notification = Notification(
        incident=view(policy, incident),
        action=delivery.action,
        target=target,
        text=delivery.text,
        thread=ThreadRef(*incident.thread) if incident.thread else None,
    )
    try:
        receipt = notifier.send(notification)
    except NotifierError as error:
        ctx.redis.delete(marker)
        outcome = "retry" if isinstance(error, RetryableError) else "failed"
        metrics.notifications.labels(notifier.channel, delivery.action, outcome).inc()
        store.note(incident.key, "delivery_failed", f"{_what(delivery, target)}: {error}", now)
        raise
    _record(ctx, incident, delivery, target, marker, receipt.channel, receipt.thread, now)


def _record(
    ctx: Context,
    incident: Incident,
    delivery: Delivery,
    target: Target,
    marker: str,
    channel: str,
    thread: ThreadRef | None,
    now: datetime,
) -> None:
    # the marker, `notified`, the thread and the timeline in one round trip
    ctx.store.sent(
        incident.key,
        marker,
        int(ctx.policy.dedupe_window.total_seconds()) + 86400,
        delivery.target if delivery.action in PAGES else None,
        (thread.channel, thread.ts) if thread is not None else None,
        None if ctx.dry_run else _what(delivery, target),
        now,
    )
    outcome = "dry_run" if ctx.dry_run else "sent"
    metrics.notifications.labels(channel, delivery.action, outcome).inc()
    if delivery.action == "trigger":
        latency = (ctx.clock() - incident.received_at).total_seconds()
        metrics.alert_to_notification.labels(channel, incident.severity).observe(latency)
    log.info("sent %s to %s", delivery.action, target.name, extra={"incident": incident.key})


def _skip(ctx: Context, incident: Incident, delivery: Delivery, why: str, now: datetime) -> None:
    line = f"skipped {delivery.action} to {delivery.target}: {why}"
    log.warning(line, extra={"incident": incident.key, "target": delivery.target})
    metrics.notifications.labels("none", delivery.action, "skipped").inc()
    ctx.store.note(incident.key, "skipped", line, now)


def _what(delivery: Delivery, target: Target) -> str:
    return f"{delivery.action} to {target.name} ({describe(target)})"
