"""Merge validated rule files into one set of sections, and check the names they share.

Merging a directory: `targets`, `escalations`, `time_intervals` and `heartbeats` merge
by name (a name defined twice is a problem at the second place, naming the first); `rules`
and `inhibit` are concatenated in file order; `severities`, `default`, `dedupe`, `flap`,
`postmortem`, `slack` and `storm` may each appear in one file only. Rule names are unique
across all files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from core.models import Severity
from core.rules.documents import Document, Loc
from core.rules.schema import (
    DedupeModel,
    DefaultModel,
    EscalationModel,
    FileModel,
    FlapModel,
    HeartbeatModel,
    InhibitModel,
    PeriodModel,
    PostmortemModel,
    RuleModel,
    SeverityModel,
    SlackSectionModel,
    StormModel,
    TargetModel,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Placed(Generic[T]):
    """A validated value and where it was written."""

    value: T
    document: Document
    loc: Loc

    def problem(self, sub: Loc, message: str, *, key: bool = False) -> str:
        return self.document.problem((*self.loc, *sub), message, key=key)

    def where(self, sub: Loc = (), *, key: bool = True) -> str:
        return self.document.where((*self.loc, *sub), key=key)


@dataclass
class Merged:
    """All files' sections, merged, each value with where it came from."""

    targets: dict[str, Placed[TargetModel]] = field(default_factory=dict)
    escalations: dict[str, Placed[EscalationModel]] = field(default_factory=dict)
    time_intervals: dict[str, Placed[list[PeriodModel]]] = field(default_factory=dict)
    rules: list[Placed[RuleModel]] = field(default_factory=list)
    inhibit: list[Placed[InhibitModel]] = field(default_factory=list)
    heartbeats: dict[str, Placed[HeartbeatModel]] = field(default_factory=dict)
    severities: Placed[dict[Severity, SeverityModel]] | None = None
    default: Placed[DefaultModel] | None = None
    dedupe: Placed[DedupeModel] | None = None
    flap: Placed[FlapModel] | None = None
    postmortem: Placed[PostmortemModel] | None = None
    slack: Placed[SlackSectionModel] | None = None
    storm: Placed[StormModel] | None = None
    files: list[Path] = field(default_factory=list)


def merge(files: list[tuple[Document, FileModel]]) -> tuple[Merged, list[str]]:
    """One set of sections from all files, and the problems merging found."""
    merged, problems = Merged(), []
    for document, model in files:
        merged.files.append(Path(document.name))
        problems += _by_name(merged.targets, model.targets, document, "targets")
        problems += _by_name(merged.escalations, model.escalations, document, "escalations")
        problems += _by_name(
            merged.time_intervals, model.time_intervals, document, "time_intervals"
        )
        problems += _add_rules(merged.rules, model.rules, document)
        problems += _by_name(merged.heartbeats, model.heartbeats, document, "heartbeats")
        merged.inhibit += [
            Placed(rule, document, ("inhibit", i)) for i, rule in enumerate(model.inhibit)
        ]
        merged.severities = _once(
            merged.severities, model.severities, document, "severities", problems
        )
        merged.default = _once(merged.default, model.default, document, "default", problems)
        merged.dedupe = _once(merged.dedupe, model.dedupe, document, "dedupe", problems)
        merged.flap = _once(merged.flap, model.flap, document, "flap", problems)
        merged.postmortem = _once(
            merged.postmortem, model.postmortem, document, "postmortem", problems
        )
        merged.slack = _once(merged.slack, model.slack, document, "slack", problems)
        merged.storm = _once(merged.storm, model.storm, document, "storm", problems)
    if merged.default is None and files:
        problems.append(f"{files[0][0].name}:1:1: default: no rule file defines `default`")
    return merged, problems


def _by_name(
    merged: dict[str, Placed[T]], given: dict[str, T], document: Document, section: str
) -> list[str]:
    problems = []
    for name, value in given.items():
        placed = Placed(value, document, (section, name))
        if name in merged:
            message = f"{name!r} is already defined at {merged[name].where()}"
            problems.append(placed.problem((), message, key=True))
        merged[name] = placed
    return problems


def _once(
    first: Placed[T] | None, value: T | None, document: Document, section: str, problems: list[str]
) -> Placed[T] | None:
    if value is None:
        return first
    placed = Placed(value, document, (section,))
    if first is not None:
        message = f"may be set in one file only; already set at {first.where()}"
        problems.append(placed.problem((), message, key=True))
        return first
    return placed


def _add_rules(
    merged: list[Placed[RuleModel]], rules: list[RuleModel], document: Document
) -> list[str]:
    problems = []
    seen = {placed.value.name: placed for placed in merged}
    for index, rule in enumerate(rules):
        placed = Placed(rule, document, ("rules", index))
        if rule.name in seen:
            first = seen[rule.name].where(("name",), key=False)
            problems.append(
                placed.problem(("name",), f"rule name {rule.name!r} is already used at {first}")
            )
        seen[rule.name] = placed
        merged.append(placed)
    return problems


def references(merged: Merged) -> list[str]:
    """Every name one section uses must be defined in another."""
    problems = []
    rules: list[Placed[Any]] = [
        *merged.rules,
        *([merged.default] if merged.default else []),
        *merged.heartbeats.values(),
    ]
    for rule in rules:
        name = rule.value.escalation
        if name not in merged.escalations:
            message = _unknown("escalation", name, merged.escalations)
            problems.append(rule.problem(("escalation",), message))
    for escalation in merged.escalations.values():
        for index, step in enumerate(escalation.value.steps):
            for position, target in enumerate(step.notify):
                if target not in merged.targets:
                    message = _unknown("target", target, merged.targets)
                    problems.append(
                        escalation.problem(("steps", index, "notify", position), message)
                    )
            if step.during is not None and step.during not in merged.time_intervals:
                message = _unknown("time interval", step.during, merged.time_intervals)
                problems.append(escalation.problem(("steps", index, "during"), message))
    if merged.storm is not None:
        for name in merged.storm.value.targets:
            if name not in merged.targets:
                message = _unknown("target", name, merged.targets)
                problems.append(merged.storm.problem(("targets", name), message, key=True))
    return problems


def _unknown(kind: str, name: str, defined: dict[str, Any]) -> str:
    names = ", ".join(sorted(defined)) or "none"
    return f"unknown {kind} {name!r}; defined: {names}"
