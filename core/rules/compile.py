"""Checked, merged sections -> the runtime `Policy`: matchers and intervals ready to run."""

from __future__ import annotations

from datetime import UTC, timedelta

from core.models import Severity
from core.rules.intervals import NamedInterval, Period, Range
from core.rules.lint import policy_warnings
from core.rules.merge import Merged
from core.rules.model import (
    AutoResolve,
    Escalation,
    Flap,
    Heartbeat,
    IncidentChannelPolicy,
    InhibitRule,
    PagerDutyTarget,
    Policy,
    PostmortemPolicy,
    Rule,
    SeverityPolicy,
    SlackTarget,
    Step,
    Storm,
    Target,
)
from core.rules.schema import (
    DEFAULT_RULE,
    DedupeModel,
    EscalationModel,
    FlapModel,
    HeartbeatModel,
    PeriodModel,
    RuleModel,
    StormModel,
    StormSettingsModel,
    TargetModel,
)

# SPEC §1: the plan's PagerDuty severities and status update cadence.
DEFAULT_SEVERITIES: dict[Severity, SeverityPolicy] = {
    "SEV1": SeverityPolicy("critical", timedelta(minutes=15)),
    "SEV2": SeverityPolicy("error", timedelta(minutes=30)),
    "SEV3": SeverityPolicy("warning"),
    "SEV4": SeverityPolicy("info"),
}
DEFAULT_DEDUPE_WINDOW = timedelta(hours=1)
DEFAULT_ARCHIVE_AFTER = timedelta(hours=48)
# A storm section's settings where neither the target nor `storm.defaults` gives them.
DEFAULT_STORM = Storm(threshold=10, window=timedelta(minutes=1), cooldown=timedelta(minutes=5))


def compile_policy(merged: Merged) -> Policy:
    """The runtime policy; `merged` must have passed `references` and have a default."""
    assert merged.default is not None, "merge() reports a missing default"
    default = merged.default.value
    flap = merged.flap.value if merged.flap else None
    severities = dict(DEFAULT_SEVERITIES)
    if merged.severities is not None:
        for name, given in merged.severities.value.items():
            severities[name] = SeverityPolicy(given.pagerduty_severity, given.update_every)
    return Policy(
        severities=severities,
        targets={name: _target(name, p.value) for name, p in merged.targets.items()},
        escalations={name: _escalation(name, p.value) for name, p in merged.escalations.items()},
        time_intervals={
            name: _interval(name, p.value) for name, p in merged.time_intervals.items()
        },
        rules=tuple(_rule(placed.value, flap) for placed in merged.rules),
        default=Rule(
            DEFAULT_RULE,
            (),
            default.severity,
            default.escalation,
            tuple(default.group_by),
            auto_resolve=default.auto_resolve,
            pending_for=default.pending_for,
            flap=_flap(default.flap or flap),
        ),
        dedupe_window=merged.dedupe.value.window if merged.dedupe else DEFAULT_DEDUPE_WINDOW,
        auto_resolve=_auto_resolve(merged.dedupe.value if merged.dedupe else None),
        inhibit=tuple(
            InhibitRule(tuple(i.source_matchers), tuple(i.target_matchers), tuple(i.equal))
            for i in (placed.value for placed in merged.inhibit)
        ),
        postmortem=_postmortem(merged),
        incident_channel=_incident_channel(merged),
        files=tuple(merged.files),
        warnings=tuple(policy_warnings(merged)),
        heartbeats={name: _heartbeat(name, p.value) for name, p in merged.heartbeats.items()},
        storms=_storms(merged.storm.value, list(merged.targets)) if merged.storm else {},
    )


def _storms(model: StormModel, targets: list[str]) -> dict[str, Storm]:
    """Each target's storm settings (the target's own over `defaults` over alertgw's);
    targets whose folding is disabled are left out."""
    storms = {}
    for name in targets:
        given = [model.targets.get(name) or StormSettingsModel(), model.defaults]
        if next((s.enabled for s in given if s.enabled is not None), True):
            threshold = next((s.threshold for s in given if s.threshold), None)
            window = next((s.window for s in given if s.window), None)
            cooldown = next((s.cooldown for s in given if s.cooldown), None)
            storms[name] = Storm(
                threshold=threshold or DEFAULT_STORM.threshold,
                window=window or DEFAULT_STORM.window,
                cooldown=cooldown or DEFAULT_STORM.cooldown,
            )
    return storms


def _heartbeat(name: str, model: HeartbeatModel) -> Heartbeat:
    return Heartbeat(
        name=name,
        period=model.period,
        grace=model.grace,
        severity=model.severity,
        escalation=model.escalation,
        labels=dict(model.labels),
        from_alert=tuple(model.from_alert) if model.from_alert is not None else None,
        tokens=tuple(t.strip() for t in model.token.split(",") if t.strip()),
    )


def _auto_resolve(model: DedupeModel | None) -> tuple[AutoResolve, ...]:
    """`dedupe.auto_resolve` as a list: a plain duration is one entry matching everything."""
    given = model.auto_resolve if model else None
    if given is None:
        return ()
    if isinstance(given, timedelta):
        return (AutoResolve((), given),)
    return tuple(AutoResolve(tuple(entry.matchers), entry.after) for entry in given)


def _postmortem(merged: Merged) -> PostmortemPolicy | None:
    if merged.postmortem is None:
        return None
    model = merged.postmortem.value
    return PostmortemPolicy(frozenset(model.severities), model.due)


def _incident_channel(merged: Merged) -> IncidentChannelPolicy | None:
    model = merged.slack.value.incident_channel if merged.slack else None
    if model is None:
        return None
    return IncidentChannelPolicy(
        frozenset(model.severities),
        model.name,
        tuple(model.invite),
        model.archive_after or DEFAULT_ARCHIVE_AFTER,
    )


def _target(name: str, model: TargetModel) -> Target:
    pagerduty = PagerDutyTarget(model.pagerduty.routing_key) if model.pagerduty else None
    slack = SlackTarget(model.slack.channel, model.slack.webhook_url) if model.slack else None
    return Target(name, pagerduty, slack)


def _escalation(name: str, model: EscalationModel) -> Escalation:
    steps = tuple(
        Step(
            notify=tuple(step.notify),
            wait=step.wait,
            severities=frozenset(step.severities) if step.severities is not None else None,
            during=step.during,
        )
        for step in model.steps
    )
    return Escalation(name, steps, model.repeat)


def _interval(name: str, periods: list[PeriodModel]) -> NamedInterval:
    return NamedInterval(name, tuple(_period(period) for period in periods))


def _period(model: PeriodModel) -> Period:
    return Period(
        times=tuple(t.range for t in model.times) if model.times is not None else None,
        weekdays=_ranges(model.weekdays),
        days_of_month=_ranges(model.days_of_month),
        months=_ranges(model.months),
        years=_ranges(model.years),
        location=model.location or UTC,
    )


def _ranges(values: list[Range] | None) -> tuple[Range, ...] | None:
    return tuple(values) if values is not None else None


def _flap(model: FlapModel | None) -> Flap | None:
    return Flap(model.changes, model.within, model.quiet) if model is not None else None


def _rule(model: RuleModel, flap: FlapModel | None) -> Rule:
    return Rule(
        name=model.name,
        matchers=tuple(model.matchers),
        severity=model.severity,
        escalation=model.escalation,
        group_by=tuple(model.group_by),
        continue_=model.continue_,
        auto_resolve=model.auto_resolve,
        pending_for=model.pending_for,
        flap=_flap(model.flap or flap),
    )
