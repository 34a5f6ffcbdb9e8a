"""The drill file: a virtual start, events at offsets from it, the notifications expected.

Read with ruamel.yaml so every problem names `file:line:col`, like a bad rule file.
The format is in docs/drills.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from alertgw.drill.state import IncidentExpected
from core.rules.documents import Document, Loc, read_document
from core.rules.durations import parse_duration
from core.rules.errors import DurationError
from gateway.sources import SOURCES
from workers.notifiers.base import Action

DEFAULT_START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
# How long a drill runs on after its last event or expected notification, when `until`
# is not given: long enough to see a step that nobody expected.
DEFAULT_TAIL = timedelta(hours=1)
OPERATIONS = ("ack", "unack", "resolve", "note")
Via = Literal["api", "pagerduty", "slack"]
VIAS = ("api", "pagerduty", "slack")


class DrillFileError(Exception):
    """A drill file cannot be used; `problems` are `file:line:col: key: message` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _offset(value: Any) -> timedelta:
    if not isinstance(value, str | int):
        raise ValueError("expected a duration such as 0s, 90s, 5m, 2h, 1d")
    try:
        return parse_duration(str(value))
    except DurationError as error:
        raise ValueError(str(error)) from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostModel(Strict):
    """A webhook as the source would post it: a payload file, a body, or (Alertmanager)
    just the alerts, which the drill wraps in a webhook v4 envelope."""

    source: str
    file: str | None = None
    body: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in SOURCES:
            raise ValueError(f"unknown source {value!r}; known: {', '.join(sorted(SOURCES))}")
        return value

    @model_validator(mode="after")
    def _one_payload(self) -> PostModel:
        given = [n for n in ("file", "body", "alerts") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of file, body, alerts")
        if self.alerts is not None and self.source != "alertmanager":
            raise ValueError("alerts: only for source alertmanager; give file or body")
        return self


class OperateModel(Strict):
    """An operator or vendor acting on an incident (ack, unack, resolve, note)."""

    by: str = "drill"
    note: str = ""
    incident: str | None = None  # default: the only live incident
    via: Via | None = None  # default: the API (unack: PagerDuty; the API has none)


class SilenceModel(Strict):
    """A silence made through the API; `starts`/`ends` are offsets from the drill start."""

    matchers: list[str]
    duration: str | None = None
    starts: timedelta | None = None
    ends: timedelta | None = None
    comment: str = "drill"
    name: str | None = None  # to expire it later with `expire: NAME`

    _offsets = field_validator("starts", "ends", mode="before")(_offset)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            _offset(value)
        return value

    @model_validator(mode="after")
    def _one_end(self) -> SilenceModel:
        if (self.duration is None) == (self.ends is None):
            raise ValueError("give exactly one of duration, ends")
        return self


class EventModel(Strict):
    at: timedelta
    post: PostModel | None = None
    ack: OperateModel | None = None
    unack: OperateModel | None = None
    resolve: OperateModel | None = None
    note: OperateModel | None = None
    silence: SilenceModel | None = None
    expire: str | None = None

    _at = field_validator("at", mode="before")(_offset)

    @model_validator(mode="after")
    def _one_kind(self) -> EventModel:
        kinds = [n for n in EVENT_KINDS if getattr(self, n) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of {', '.join(EVENT_KINDS)}")
        return self


EVENT_KINDS = ("post", *OPERATIONS, "silence", "expire")


class ExpectModel(Strict):
    at: timedelta
    target: str
    action: Action

    _at = field_validator("at", mode="before")(_offset)


class IncidentModel(Strict):
    incident: str
    status: Literal["open", "acknowledged", "resolved"] | None = None
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] | None = None
    title: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class DrillModel(Strict):
    name: str | None = None
    description: str = ""
    rules: str | None = None
    start: datetime = DEFAULT_START
    until: timedelta | None = None
    events: list[EventModel]
    expect: list[ExpectModel] | None = None
    incidents: list[IncidentModel] = Field(default_factory=list)  # their state at the end
    ignore: list[Action] = Field(default_factory=list)  # actions left out of `expect`

    _until = field_validator("until", mode="before")(
        lambda value: None if value is None else _offset(value)
    )

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-03-02T10:00:00Z")
        return value.astimezone(UTC)


@dataclass(frozen=True)
class Event:
    """One thing that happens at `at` after the start; `kind` names which."""

    at: timedelta
    kind: str
    spec: Any
    where: str  # file:line:col, for errors raised while the drill runs


@dataclass(frozen=True)
class Expected:
    at: timedelta
    target: str
    action: str
    where: str


@dataclass(frozen=True)
class Drill:
    """A drill file, read and checked."""

    path: Path
    name: str
    description: str
    rules: Path | None
    start: datetime
    until: timedelta
    events: tuple[Event, ...]
    expect: tuple[Expected, ...] | None
    ignore: frozenset[str] = field(default_factory=frozenset)
    incidents: tuple[IncidentExpected, ...] = ()

    def resolve_path(self, relative: str) -> Path:
        """A path written in the drill, relative to the drill file."""
        return (self.path.parent / relative).resolve()


def load_drill(path: Path) -> Drill:
    """Read and check a drill file; DrillFileError lists every problem at its position."""
    document, problems = read_document(path, os.environ)
    if document is None or problems:
        raise DrillFileError(problems)
    try:
        model = DrillModel.model_validate(document.root)
    except ValidationError as error:
        raise DrillFileError([_problem(document, d) for d in error.errors()]) from None
    drill = _drill(path, document, model)
    problems = _check(drill, document, model)
    if problems:
        raise DrillFileError(problems)
    return drill


def _drill(path: Path, document: Document, model: DrillModel) -> Drill:
    events = tuple(
        Event(e.at, kind, getattr(e, kind), document.where(("events", i)))
        for i, e in enumerate(model.events)
        for kind in EVENT_KINDS
        if getattr(e, kind) is not None
    )
    expect = None
    if model.expect is not None:
        expect = tuple(
            Expected(x.at, x.target, x.action, document.where(("expect", i)))
            for i, x in enumerate(model.expect)
        )
    last = max([e.at for e in events] + [x.at for x in expect or ()], default=timedelta(0))
    return Drill(
        path=path,
        name=model.name or path.stem,
        description=model.description,
        rules=(path.parent / model.rules).resolve() if model.rules else None,
        start=model.start,
        until=model.until if model.until is not None else last + DEFAULT_TAIL,
        events=events,
        expect=expect,
        ignore=frozenset(model.ignore),
        incidents=tuple(
            IncidentExpected(where=document.where(("incidents", i)), **m.model_dump())
            for i, m in enumerate(model.incidents)
        ),
    )


def _check(drill: Drill, document: Document, model: DrillModel) -> list[str]:
    problems = []
    previous = timedelta(0)
    for i, event in enumerate(model.events):
        if event.at < previous:
            problems.append(document.problem(("events", i, "at"), "events must be in time order"))
        previous = event.at
        payload = event.post.file if event.post is not None else None
        if payload is not None and not drill.resolve_path(payload).is_file():
            problems.append(document.problem(("events", i, "post", "file"), "no such payload file"))
        problems += _check_via(document, i, event)
    if model.rules is not None and not (drill.rules and drill.rules.exists()):
        problems.append(document.problem(("rules",), "no such rule file or directory"))
    for i, expected in enumerate(model.expect or ()):
        if expected.at > drill.until:
            problems.append(document.problem(("expect", i, "at"), "after `until`"))
        if expected.action in drill.ignore:
            message = f"{expected.action!r} is in `ignore`: it cannot be expected"
            problems.append(document.problem(("expect", i, "action"), message))
    return problems


def _check_via(document: Document, index: int, event: EventModel) -> list[str]:
    # what each channel can do: the API has no unacknowledge, PagerDuty and Slack no notes
    allowed = {"ack": VIAS, "resolve": VIAS, "unack": ("pagerduty",), "note": ("api",)}
    for kind, vias in allowed.items():
        operate = getattr(event, kind)
        if operate is not None and operate.via is not None and operate.via not in vias:
            message = f"{kind} is not possible via {operate.via}; use one of: {', '.join(vias)}"
            return [document.problem(("events", index, kind, "via"), message)]
    return []


def _problem(document: Document, detail: ErrorDetails) -> str:
    loc: Loc = tuple(p for p in detail["loc"] if isinstance(p, str | int))
    if detail["type"] == "extra_forbidden":
        return document.problem(loc, "unknown key", key=True)
    if detail["type"] == "missing":
        return document.problem(loc, "required key is missing")
    error = (detail.get("ctx") or {}).get("error")
    message = str(error) if detail["type"] == "value_error" and error else detail["msg"]
    return document.problem(loc, message)
