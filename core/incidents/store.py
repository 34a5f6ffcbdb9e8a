"""The incident store: incidents, their alerts and timelines, kept in Redis.

Every change of state is one Lua script (`core.incidents.transitions`, `.operations`,
`.claims`), so any number of workers (and the API) can act on the same incident at once;
each transition also writes to the `changes` stream, from which the dispatcher makes RQ
jobs. Reads are plain (`core.incidents.reads`).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, cast

import redis

from core.handoff import HandoffEntry
from core.incidents import claims, operations, transitions
from core.incidents.reads import IncidentReads
from core.incidents.record import (
    Incident,
    decoded,
    from_timestamp,
)
from core.models import SEVERITIES, Severity

TIMELINE_CAP = 500
# How long an alert lets its incident stay quiet before it is auto-resolved (None: never),
# given the alert's rule and labels: `Policy.quiet_for`.
QuietFor = Callable[[str, Mapping[str, str]], timedelta | None]
Outcome = Literal["opened", "joined", "raised", "resolved", "partial", "ignored", "duplicate"]
Operation = Literal["acknowledge", "unacknowledge", "resolve", "note"]


@dataclass(frozen=True)
class Applied:
    """What applying one alert did to its incident."""

    outcome: Outcome
    version: int
    severity: Severity | None
    inc: str
    key: str  # the incident it went to: another rule's, when its fingerprint lives there


class StepClaim(NamedTuple):
    """What claiming an escalation step found."""

    code: int  # 1 fresh, 2 a re-run of the current step, 0 stale
    fired_at: datetime | None  # when the step first fired (None when stale)
    notified: frozenset[str]  # the targets told so far


class IncidentStore(IncidentReads):
    """Incidents under one key prefix. Times are passed in (`now`), never read here."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        window: timedelta,
        update_every: Mapping[Severity, timedelta] | None = None,
        quiet_for: QuietFor | None = None,
        window_of: Callable[[], timedelta] | None = None,
    ) -> None:
        super().__init__(client, prefix)
        self.window = window
        # status-update interval by severity: applying an alert schedules the reminders
        self.update_every = dict(update_every or {})
        self.quiet_for = quiet_for
        # the current window, for a long-lived store (the API's) over reloaded rules
        self.window_of = window_of
        self._apply = client.register_script(transitions.APPLY_ALERT)
        self._operate = client.register_script(operations.OPERATE)
        self._claim_step = client.register_script(claims.CLAIM_STEP)
        self._claim_reminder = client.register_script(claims.CLAIM_REMINDER)
        self._mute = client.register_script(claims.MUTE)
        self._sent = client.register_script(claims.SENT)
        self._auto_resolve = client.register_script(operations.AUTO_RESOLVE)

    def apply(
        self,
        entry: HandoffEntry,
        stream: str,
        group: str,
        entry_id: str,
        now: datetime,
        siblings: Iterable[str] = (),
    ) -> Applied:
        """Apply one hand-off entry (and acknowledge it) atomically; see transitions.

        A firing alert whose fingerprint already lives in another live incident joins
        (or raises) that one; `siblings` are the incident keys the policy classifies the
        alert into now (`continue: true` rules), which keep their own incidents. A resolve
        resolves the fingerprint in every live incident holding it.
        """
        alert, rule = entry.alert, entry.classification
        key = rule.incident_key
        fields = {
            "title": alert.title,
            "summary": alert.summary,
            "service": alert.service or "",
            "environment": alert.environment or "",
            "source": alert.source,
            "labels": json.dumps(alert.labels),
            "links": json.dumps([link.model_dump() for link in alert.links]),
            "received_at": alert.received_at.timestamp(),
        }
        args = {
            "prefix": self.prefix,
            "group": group,
            "entry": entry_id,
            "key": key,
            "fingerprint": alert.fingerprint,
            "status": alert.status,
            "severity": rule.severity,
            "rule": rule.rule,
            "escalation": rule.escalation,
            "siblings": dict.fromkeys([key, *siblings], True),
            "now": now.timestamp(),
            "window": self._window_seconds,
            "cap": TIMELINE_CAP,
            "remind_after": self._remind_after(rule.severity),
            "auto_resolve": self._quiet(rule.rule, alert.labels),
            "fields": fields,
        }
        keys = [
            self.key_of(key),
            self.key_of(key, "alerts"),
            self.key_of(key, "timeline"),
            self.key_of(key, "notified"),
            self.changes_key,
            self.index_key,
            stream,
            self.fingerprint_key(alert.fingerprint),
            *(self.open_key(s) for s in SEVERITIES),
            self.reminders_key,
            self.autoresolve_key,
        ]
        raw = self._apply(keys=keys, args=[json.dumps(args)])
        outcome, version, severity, inc, applied_to = (decoded(v) for v in raw)
        return Applied(
            outcome=cast("Outcome", outcome),
            version=int(version),
            severity=cast("Severity", severity) if severity else None,
            inc=inc,
            key=applied_to or key,
        )

    def _remind_after(self, severity: Severity) -> float:
        every = self.update_every.get(severity)
        return every.total_seconds() if every else 0

    def _quiet(self, rule: str, labels: Mapping[str, str]) -> int:
        quiet = self.quiet_for(rule, labels) if self.quiet_for else None
        return int(quiet.total_seconds()) if quiet else 0

    def acknowledge(self, key: str, by: str, note: str, now: datetime) -> int | None:
        """Acknowledge an open incident: stops escalation. The new version, or None."""
        return self._run("acknowledge", key, by, note, now)

    def unacknowledge(self, key: str, by: str, note: str, now: datetime) -> int | None:
        """Reopen an acknowledged incident: escalation resumes. The new version, or None."""
        return self._run("unacknowledge", key, by, note, now)

    def resolve(self, key: str, by: str, note: str, now: datetime) -> int | None:
        """Resolve an open or acknowledged incident. The new version, or None."""
        return self._run("resolve", key, by, note, now)

    def add_note(self, key: str, by: str, note: str, now: datetime) -> int | None:
        """Add an operator note (timeline and Slack thread). The version, or None."""
        return self._run("note", key, by, note, now)

    def _run(self, action: Operation, key: str, by: str, note: str, now: datetime) -> int | None:
        keys = [self.key_of(key), self.key_of(key, "timeline"), self.changes_key]
        keys += [*(self.open_key(s) for s in SEVERITIES), self.autoresolve_key]
        args: builtins.list[str | float] = [action, by, note, now.timestamp(), TIMELINE_CAP]
        args += [self.prefix, self._window_seconds]
        version = int(self._operate(keys=keys, args=args))
        return version or None

    def auto_resolve(self, key: str, inc: str, text: str, now: datetime) -> int | None:
        """Resolve incarnation `inc` if it had no alert for its `auto_resolve` by `now`
        (see operations.AUTO_RESOLVE); `text` says why. The new version, or None."""
        keys = [self.key_of(key), self.key_of(key, "timeline"), self.changes_key]
        keys += [self.autoresolve_key, *(self.open_key(s) for s in SEVERITIES)]
        args: builtins.list[str | float] = [key, inc, now.timestamp(), TIMELINE_CAP]
        args += [self.prefix, self._window_seconds, text]
        return int(self._auto_resolve(keys=keys, args=args)) or None

    @property
    def _window_seconds(self) -> int:
        window = self.window_of() if self.window_of is not None else self.window
        return int(window.total_seconds())

    def claim_step(
        self, incident: Incident, version: int, step: int, text: str, now: datetime
    ) -> StepClaim:
        """Take escalation step `step`: code 1 fresh (at now), 2 a re-run (at when it was
        first taken), 0 stale: acknowledged, resolved, another version, or past the step.
        """
        key = incident.key
        keys = [self.key_of(key), self.key_of(key, "timeline"), self.key_of(key, "notified")]
        args: builtins.list[str | float] = [
            incident.inc,
            version,
            step,
            now.timestamp(),
            TIMELINE_CAP,
            text,
        ]
        code, at, notified = self._claim_step(keys=keys, args=args)
        fired_at = from_timestamp(at) if at else None
        return StepClaim(int(code), fired_at, frozenset(decoded(n) for n in notified))

    def claim_reminder(self, key: str, inc: str, seq: int) -> int:
        """Take reminder `seq`: 1 fresh, 2 a re-run of the current one, 0 stale."""
        return int(self._claim_reminder(keys=[self.key_of(key)], args=[inc, seq]))

    def mute(self, key: str, inc: str, cause: str, kind: str, text: str, now: datetime) -> bool:
        """Record that `cause` mutes incarnation `inc`: True the first time it does."""
        keys = [self.key_of(key), self.key_of(key, "timeline")]
        args: builtins.list[str | float] = [inc, cause, now.timestamp(), TIMELINE_CAP, kind, text]
        return bool(self._mute(keys=keys, args=args))

    # records kept by delivery ---------------------------------------------------------
    def note(self, key: str, kind: str, text: str, now: datetime) -> None:
        """Append a timeline entry (delivery outcomes, deferrals, dry-run records)."""
        entry = json.dumps({"at": now.timestamp(), "kind": kind, "text": text})
        timeline = self.key_of(key, "timeline")
        with self.redis.pipeline(transaction=True) as pipe:
            # RPUSHX: a late note never recreates an expired timeline (it would not expire)
            pipe.rpushx(timeline, entry)
            pipe.ltrim(timeline, -TIMELINE_CAP, -1)
            pipe.execute()

    def notified(self, key: str) -> set[str]:
        """Names of the targets this incident notified (updates and resolves go there)."""
        return {decoded(name) for name in self.redis.smembers(self.key_of(key, "notified"))}

    def sent(
        self,
        key: str,
        marker: str,
        marker_ttl: int,
        paged: str | None,
        thread: tuple[str, str] | None,
        text: str | None,
        now: datetime,
    ) -> None:
        """Record a delivery in one step (see claims.SENT): its `marker` turns sent,
        a `paged` target joins `notified`, a first Slack `thread` (channel, ts) is kept,
        and `text` goes into the timeline."""
        keys = [
            marker,
            self.key_of(key, "notified"),
            self.key_of(key),
            self.key_of(key, "timeline"),
        ]
        channel, ts = thread or ("", "")
        args: builtins.list[str | float] = [
            marker_ttl,
            paged or "",
            channel,
            ts,
            now.timestamp(),
            TIMELINE_CAP,
            text or "",
        ]
        self._sent(keys=keys, args=args)
