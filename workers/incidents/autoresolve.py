"""Auto-resolve: an incident that has had no alert for its `auto_resolve` is resolved.

For sources that never send a resolve (Sentry event alerts, Datadog event monitors) an
incident would otherwise stay open, and its PagerDuty incidents with it, until someone
resolves it by hand. Applying an alert (`core.incidents.transitions`) puts its incident's
deadline, last alert + `auto_resolve`, in the sorted set `<prefix>autoresolve` in the
same Lua step, so the deadline moves with every alert and survives anything a worker
does next. Sweeps (`workers.delivery.sweeps`) take the incidents due; `IncidentStore.auto_resolve`
resolves each in one atomic step that checks the deadline again (an alert may have come
since), and writes an `auto_resolve` change to the outbox: `workers.incidents.changes` then sends
resolve to every target the incident notified, saying "Auto-resolved: no alert for 1h".
"""

from __future__ import annotations

from core import metrics
from core.incidents.record import Incident
from core.rules.durations import format_duration
from workers.context import Context, current
from workers.delivery import sweeps

TAG = "ars"  # the job id tag of auto-resolve sweeps


def auto_resolve_due() -> None:
    """A sweep: auto-resolve the incidents due, then ask for the next sweep."""
    ctx = current()
    for due in sweeps.take_due(ctx, ctx.store.autoresolve_key, ctx.clock()):
        for member in due:
            _resolve(ctx, member.decode())
    keep_sweeping(ctx)


def _resolve(ctx: Context, key: str) -> None:
    incident = ctx.store.get(key)
    quiet = incident.auto_resolve if incident is not None else None
    text = f"no alert for {format_duration(quiet)}" if quiet else ""
    inc = incident.inc if incident is not None else ""
    # the script also takes the member out of the set, or puts its later deadline back
    if ctx.store.auto_resolve(key, inc, text, ctx.clock()) and incident is not None:
        metrics.auto_resolved.labels(incident.severity).inc()


def opened(ctx: Context, incident: Incident) -> None:
    """A sweep for a new incident's deadline (applying it put that in the set)."""
    if incident.auto_resolve is not None and incident.last_alert_at is not None:
        at = incident.last_alert_at + incident.auto_resolve
        sweeps.ensure_sweep(ctx, TAG, auto_resolve_due, ctx.auto_resolve_sweeps, at)


def keep_sweeping(ctx: Context) -> None:
    """A sweep for the earliest deadline, or at once when it is overdue (after each
    sweep, and from each worker's refresher: a broken chain starts again)."""
    key = ctx.store.autoresolve_key
    sweeps.keep_sweeping(ctx, key, TAG, auto_resolve_due, ctx.auto_resolve_sweeps)
