"""Muting: whether an incident's escalation step may notify anyone now.

Two things hold a firing incident's notifications back, as in Alertmanager: an active
silence whose matchers match the incident's labels plus `severity`, and another live
incident that inhibits it under the policy's inhibit rules (`core.inhibition`, the one
implementation of Alertmanager's rule, two-sided case included).

A muted step notifies nobody, is recorded once per cause (timeline, and
`alertgw_alerts_muted_total`), and is looked at again later: when the silence ends, or
sooner, since a silence can be expired early or an inhibiting incident resolve. When
nothing mutes it any more the step fires then, and the path goes on from there, as
Alertmanager notifies once a silence is over. Resolves are never muted: they go to
whoever was notified before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from core import metrics
from core.incidents.record import Incident, incident_from_hash
from core.inhibition import inhibited_by, with_severity
from core.rules.model import Policy
from core.silences import Silence, muting_silence
from workers.context import Context

# How soon a muted step is looked at again at the latest: Alertmanager's default
# group_interval, the pace at which it would notify once a silence or inhibition is gone.
RECHECK = timedelta(minutes=5)

Reason = Literal["silence", "inhibited"]


@dataclass(frozen=True)
class Mute:
    """Why an incident notifies nobody now, and until when if that is known."""

    reason: Reason
    cause: str  # the silence id, or the inhibiting incident's key and incarnation
    text: str  # the timeline line
    until: datetime | None = None

    def recheck_at(self, now: datetime) -> datetime:
        """When to look again: the silence's end, or RECHECK from now if sooner."""
        soon = now + RECHECK
        return soon if self.until is None else min(self.until, soon)


def read(ctx: Context, key: str) -> tuple[Incident | None, list[Silence]]:
    """The incident and every stored silence, in one round trip (a step needs both)."""
    with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(ctx.store.key_of(key))
        pipe.hvals(ctx.silences.key)
        raw, silences = pipe.execute()
    incident = incident_from_hash(raw) if raw else None
    return incident, [Silence.model_validate_json(s) for s in silences]


def muted(
    ctx: Context, incident: Incident, now: datetime, silences: Iterable[Silence] | None = None
) -> Mute | None:
    """What mutes the incident now (a silence first), or None.

    `silences` are the stored ones if the caller just read them (`read`), else read here.
    """
    labels = with_severity(incident.labels, incident.severity)
    if silences is None:
        silence = ctx.silences.active(labels, now)
    else:
        silence = muting_silence(silences, labels, now)
    if silence is not None:
        text = f"silenced by {silence.id}: {silence.comment}"
        return Mute("silence", silence.id, text, silence.ends_at)
    policy = ctx.policy
    if not inhibitable(policy, incident):  # most incidents: no need to look around
        return None
    source = inhibitor(policy, incident, ctx.store.open_incidents(now))
    if source is None:
        return None
    return Mute("inhibited", f"{source.key}@{source.inc}", f"inhibited by {source.key}")


def record(ctx: Context, incident: Incident, mute: Mute, now: datetime) -> None:
    """Note the mute in the timeline and count it, once per incident and cause."""
    kind = "silenced" if mute.reason == "silence" else "inhibited"
    cause = f"{mute.reason}:{mute.cause}"
    if ctx.store.mute(incident.key, incident.inc, cause, kind, mute.text, now):
        metrics.alerts_muted.labels(mute.reason, incident.severity).inc()


def inhibitable(policy: Policy, incident: Incident) -> bool:
    """Whether any inhibit rule could mute this incident (cheap; checked before the rest)."""
    mine = with_severity(incident.labels, incident.severity)
    return any(all(m.matches(mine) for m in rule.target_matchers) for rule in policy.inhibit)


def inhibitor(policy: Policy, incident: Incident, others: Iterable[Incident]) -> Incident | None:
    """The live incident that inhibits this one under the policy's rules, if any."""
    sources = [o for o in others if o.key != incident.key and o.status != "resolved"]
    labels = [with_severity(o.labels, o.severity) for o in sources]
    found = inhibited_by(incident.labels, incident.severity, labels, policy.inhibit)
    # inhibited_by returns one of the label sets it was given: find whose it is
    return next((o for o, seen in zip(sources, labels, strict=True) if seen is found), None)
