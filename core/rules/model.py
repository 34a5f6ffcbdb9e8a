"""The compiled policy: typed, validated objects the rule files load into.

The loader (`core.rules.loader`) builds these once per load or reload; the gateway
classifies with them and the workers escalate with them. Nothing here reads YAML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from core.models import Alert, Level, Severity

# PagerDuty caps dedup_key at 255 characters; an incident key is used as one.
MAX_INCIDENT_KEY = 255


class Matcher(Protocol):
    """One Alertmanager-syntax matcher, compiled: `name op "value"`."""

    name: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set matches (a missing label equals the empty string)."""


class TimeInterval(Protocol):
    """A named set of times in Alertmanager's `time_intervals` syntax."""

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (timezone-aware) falls inside the interval."""

    def next_start(self, moment: datetime) -> datetime | None:
        """The first instant at or after `moment` inside the interval; None if never."""


@dataclass(frozen=True)
class SeverityPolicy:
    """What a severity means for delivery."""

    pagerduty_severity: Level
    update_every: timedelta | None = None


@dataclass(frozen=True)
class PostmortemPolicy:
    """Resolved incidents of these severities get a postmortem draft, due `due` later."""

    severities: frozenset[Severity]
    due: timedelta


@dataclass(frozen=True)
class IncidentChannelPolicy:
    """A Slack channel of its own for each incident of these severities."""

    severities: frozenset[Severity]
    name: str  # template: {date} {service} {environment} {severity} {rule} {id}
    invite: tuple[str, ...] = ()  # Slack user ids (U...) and user group ids (S...)
    archive_after: timedelta = timedelta(hours=48)  # after resolve (and postmortem done)


@dataclass(frozen=True)
class PagerDutyTarget:
    routing_key: str = field(repr=False)  # a credential: never in a log line or traceback


@dataclass(frozen=True)
class SlackTarget:
    """Either a Web API channel (threads, buttons) or an incoming webhook (neither)."""

    channel: str | None = None
    webhook_url: str | None = field(default=None, repr=False)  # the URL is the credential


@dataclass(frozen=True)
class Target:
    """A named place notifications go."""

    name: str
    pagerduty: PagerDutyTarget | None = None
    slack: SlackTarget | None = None

    @property
    def configured(self) -> bool:
        """False when its credential is empty (allowed, skipped at delivery in live mode)."""
        if self.pagerduty is not None:
            return bool(self.pagerduty.routing_key)
        if self.slack is not None:
            return bool(self.slack.channel or self.slack.webhook_url)
        return False


@dataclass(frozen=True)
class Step:
    """One escalation step: who to notify, then how long to wait for an acknowledgement."""

    notify: tuple[str, ...]
    wait: timedelta | None = None
    severities: frozenset[Severity] | None = None
    during: str | None = None

    def applies_to(self, severity: Severity) -> bool:
        return self.severities is None or severity in self.severities


@dataclass(frozen=True)
class PlannedStep:
    """A step as it would run for one severity: `after` is counted from step 1."""

    index: int
    after: timedelta
    notify: tuple[str, ...]
    during: str | None


@dataclass(frozen=True)
class Escalation:
    """A named escalation path: its steps, run `1 + repeat` times unless acknowledged."""

    name: str
    steps: tuple[Step, ...]
    repeat: int = 0

    def plan(self, severity: Severity) -> list[PlannedStep]:
        """The steps that apply to `severity`, with their delay from the first page.

        A step skipped for this severity does not add its wait: the next applicable step
        follows the previous applicable step's wait. Repeats append the whole path again.
        """
        planned: list[PlannedStep] = []
        elapsed = timedelta(0)
        applicable = [s for s in self.steps if s.applies_to(severity)]
        for _ in range(self.repeat + 1):
            for step in applicable:
                planned.append(PlannedStep(len(planned), elapsed, step.notify, step.during))
                elapsed += step.wait or timedelta(0)
        return planned


@dataclass(frozen=True)
class Flap:
    """Flap damping: `changes` firing/resolved changes within `within` make an incident
    flap; it settles after `quiet` without a change (workers/escalation/flapping.py)."""

    changes: int
    within: timedelta
    quiet: timedelta


@dataclass(frozen=True)
class Storm:
    """Storm folding for one target: more than `threshold` new-incident pages within
    `window` start a storm; `cooldown` under the threshold ends it
    (workers/escalation/storms.py)."""

    threshold: int
    window: timedelta
    cooldown: timedelta


@dataclass(frozen=True)
class Rule:
    """A classification rule; `continue_` lets later rules match too."""

    name: str
    matchers: tuple[Matcher, ...]
    severity: Severity
    escalation: str
    group_by: tuple[str, ...] = ()
    continue_: bool = False
    # quiet after which its incidents auto-resolve: None defers to the policy's
    # `dedupe.auto_resolve`, zero is `never`
    auto_resolve: timedelta | None = None
    # hold-down: the incident opens at once, step 1 waits this long (docs/rules.md)
    pending_for: timedelta | None = None
    flap: Flap | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        # a plain loop: this runs for every rule on every alert, and all() over a
        # generator costs several times more per rule
        for matcher in self.matchers:  # noqa: SIM110 - see above
            if not matcher.matches(labels):
                return False
        return True

    def classification(self, labels: Mapping[str, str], fingerprint: str) -> Classification:
        """What this rule decides for an alert it matched."""
        return Classification(
            severity=self.severity,
            rule=self.name,
            escalation=self.escalation,
            incident_key=incident_key(self.name, self.group_by, labels, fingerprint),
            group_by=self.group_by,
        )


@dataclass(frozen=True)
class AutoResolve:
    """`dedupe.auto_resolve`: alerts matching every matcher resolve after `after` of quiet."""

    matchers: tuple[Matcher, ...]
    after: timedelta  # zero: never

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class InhibitRule:
    """Alertmanager inhibition: an open source-side incident mutes matching targets.

    Matchers see the alert's labels plus `severity` (its classified SEV level).
    """

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    def inhibits(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        """Whether an alert labelled `source` mutes one labelled `target`.

        Both label sets include `severity`; a label in `equal` missing from both counts
        as equal (the empty string), as in Alertmanager.
        """
        return (
            all(m.matches(source) for m in self.source_matchers)
            and all(m.matches(target) for m in self.target_matchers)
            and all(source.get(name, "") == target.get(name, "") for name in self.equal)
        )


# The rule name of heartbeat beats and misses: rule names cannot contain ':', so none
# collides with it (docs/heartbeats.md).
HEARTBEAT_RULE = "heartbeat:"


@dataclass(frozen=True)
class Heartbeat:
    """A heartbeat: a beat is due every `period`; missing it by `grace` opens an incident.

    Fed by firing alerts that match `from_alert` (none: pings only) and by
    `POST /heartbeats/<name>` with one of `tokens`.
    """

    name: str
    period: timedelta
    grace: timedelta
    severity: Severity
    escalation: str
    labels: Mapping[str, str] = field(default_factory=dict)
    from_alert: tuple[Matcher, ...] | None = None
    tokens: tuple[str, ...] = field(default=(), repr=False)  # credentials

    @property
    def rule(self) -> str:
        """The rule name its beats and its incident go by."""
        return f"{HEARTBEAT_RULE}{self.name}"

    @property
    def allowance(self) -> timedelta:
        """How long after a beat the next one may come before it counts as missed."""
        return self.period + self.grace

    def fed_by(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels is one of this heartbeat's beats."""
        if self.from_alert is None:
            return False
        return all(m.matches(labels) for m in self.from_alert)

    def beat(self) -> Classification:
        """How an alert that feeds it is classified: consumed by the workers as a beat."""
        return Classification(
            severity=self.severity,
            rule=self.rule,
            escalation=self.escalation,
            incident_key=self.rule,
        )


class Classification(BaseModel):
    """What the rules decided for one alert (one per matching rule with `continue`)."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    rule: str
    escalation: str
    incident_key: str
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A complete, validated rule set."""

    severities: Mapping[Severity, SeverityPolicy]
    targets: Mapping[str, Target]
    escalations: Mapping[str, Escalation]
    time_intervals: Mapping[str, TimeInterval]
    rules: tuple[Rule, ...]
    default: Rule  # named "default", no matchers
    dedupe_window: timedelta = timedelta(hours=1)
    inhibit: tuple[InhibitRule, ...] = ()
    auto_resolve: tuple[AutoResolve, ...] = ()  # first match wins; none: never
    postmortem: PostmortemPolicy | None = None  # None: no drafts, no deadline reminders
    incident_channel: IncidentChannelPolicy | None = None  # None: no channel per incident
    files: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    heartbeats: Mapping[str, Heartbeat] = field(default_factory=dict)
    storms: Mapping[str, Storm] = field(default_factory=dict)  # by target; absent: no folding

    def rule_named(self, name: str) -> Rule | None:
        """The rule (or `default`) of that name; None for heartbeats and removed rules."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in (*self.rules, self.default)}

    @cached_property
    def _fed(self) -> tuple[Heartbeat, ...]:
        return tuple(h for h in self.heartbeats.values() if h.from_alert is not None)

    @cached_property
    def _tests(self) -> tuple[tuple[Rule, tuple[Callable[[Mapping[str, str]], bool], ...]], ...]:
        # Bound `matches` methods, looked up once: classify is the gateway's hot path and
        # this saves an attribute lookup and a call per rule (see bench/bench_classify.py).
        return tuple((rule, tuple(m.matches for m in rule.matchers)) for rule in self.rules)

    @cached_property
    def _rules_by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in (*self.rules, self.default)}

    def quiet_for(self, rule: str, labels: Mapping[str, str]) -> timedelta | None:
        """How long without an alert before an incident of `rule` holding an alert
        labelled `labels` is auto-resolved: the rule's own `auto_resolve`, else the
        first matching `dedupe.auto_resolve` entry; None for never."""
        named = self._rules_by_name.get(rule)
        if named is not None and named.auto_resolve is not None:
            return named.auto_resolve or None
        found = next((entry.after for entry in self.auto_resolve if entry.matches(labels)), None)
        return found or None

    def classify(self, alert: Alert) -> list[Classification]:
        """The rules that match `alert`, in order: the first match, plus the matches after
        each `continue: true` rule; the default rule when none matches.

        An alert that feeds a heartbeat (`from_alert`) is that heartbeat's beat and
        nothing else: the workers consume it, it opens no incident of its own.
        """
        labels = alert.labels
        for heartbeat in self._fed:
            if heartbeat.fed_by(labels):
                return [heartbeat.beat()]
        found: list[Classification] = []
        for rule, tests in self._tests:
            for test in tests:
                if not test(labels):
                    break
            else:
                found.append(rule.classification(labels, alert.fingerprint))
                if not rule.continue_:
                    return found
        if not found:
            found.append(self.default.classification(labels, alert.fingerprint))
        return found


def incident_key(
    rule: str, group_by: tuple[str, ...], labels: Mapping[str, str], fingerprint: str
) -> str:
    """The incident an alert belongs to: rule name plus group values, or its fingerprint.

    Readable when it fits PagerDuty's 255-character dedup_key, hashed past that.
    """
    if group_by:
        tail = ",".join(f"{name}={labels.get(name, '')}" for name in group_by)
    else:
        tail = fingerprint
    key = f"{rule}:{tail}"
    if len(key) <= MAX_INCIDENT_KEY:
        return key
    digest = hashlib.sha256(tail.encode()).hexdigest()[:32]
    return f"{rule[: MAX_INCIDENT_KEY - 34]}:#{digest}"
