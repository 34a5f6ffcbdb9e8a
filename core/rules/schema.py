"""The rule file's schema (SPEC §6), as pydantic models that forbid unknown keys.

Values that have a syntax of their own (matchers, durations, time interval fields) are
parsed here, so a bad one is reported at its own position; names that refer to other
sections are checked by the loader once every file is read.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    model_validator,
)

from core.models import Level, Severity
from core.rules import intervals
from core.rules.durations import parse_duration
from core.rules.intervals import Range
from core.rules.matchers import LABEL_NAME, LabelMatcher, parse_matcher

# The rule an alert gets when no other matches; incident keys start with the rule name.
DEFAULT_RULE = "default"
NEVER = "never"  # a rule's `auto_resolve` that turns the `dedupe` default off
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_LABEL = re.compile(LABEL_NAME)


def _duration(value: Any) -> timedelta:
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 5m, got {value!r}")
    return parse_duration(value)


def _quiet(value: Any) -> timedelta:
    """A rule's `auto_resolve`: a duration, or `never` (zero) to turn the default off."""
    if value == NEVER:
        return timedelta(0)
    quiet = _duration(value)
    if not quiet:
        raise ValueError(f"auto_resolve must be longer than 0; write {NEVER!r} for none")
    return quiet


def _matcher(value: Any) -> LabelMatcher:
    if not isinstance(value, str):
        raise ValueError(f"expected a matcher string such as 'service=\"checkout\"', got {value!r}")
    return parse_matcher(value)


def _location(value: Any) -> ZoneInfo:
    if not isinstance(value, str):
        raise ValueError(f"expected a time zone name such as Europe/Berlin, got {value!r}")
    return intervals.parse_location(value)


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"invalid name {value!r}: use letters, digits, '_', '.' and '-'")
    return value


def _rule_name(value: str) -> str:
    if value == DEFAULT_RULE:
        raise ValueError(f"{DEFAULT_RULE!r} is the name of the `default` rule; choose another")
    return _name(value)


def _label(value: str) -> str:
    if not _LABEL.fullmatch(value):
        raise ValueError(f"invalid label name {value!r}")
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("the list repeats a name")
    return values


def _field(parse: Any) -> Any:
    """A validator for one time interval field: strings, or plain numbers YAML made ints."""

    def check(value: Any) -> Range:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"expected a string such as 'monday:friday', got {value!r}")
        result: Range = parse(value)
        return result

    return PlainValidator(check)


Duration = Annotated[timedelta, PlainValidator(_duration)]
Quiet = Annotated[timedelta, PlainValidator(_quiet)]  # zero: never
Matcher = Annotated[LabelMatcher, PlainValidator(_matcher)]
Name = Annotated[str, AfterValidator(_name)]
RuleName = Annotated[str, AfterValidator(_rule_name)]
LabelName = Annotated[str, AfterValidator(_label)]
GroupBy = Annotated[list[LabelName], AfterValidator(_unique)]


class Strict(BaseModel):
    """Unknown keys are errors; values are read once and never changed."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class SeverityModel(Strict):
    pagerduty_severity: Level
    update_every: Duration | None = None


class PagerDutyModel(Strict):
    routing_key: str


class SlackModel(Strict):
    channel: str | None = None
    webhook_url: str | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> Self:
        if (self.channel is None) == (self.webhook_url is None):
            raise ValueError("give exactly one of channel (Web API) or webhook_url")
        return self


class TargetModel(Strict):
    pagerduty: PagerDutyModel | None = None
    slack: SlackModel | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.pagerduty is None) == (self.slack is None):
            raise ValueError("a target is exactly one of pagerduty or slack")
        return self


class StepModel(Strict):
    notify: Annotated[list[Name], Field(min_length=1)]
    wait: Duration | None = None
    severities: list[Severity] | None = None
    during: str | None = None


class EscalationModel(Strict):
    steps: Annotated[list[StepModel], Field(min_length=1)]
    repeat: Annotated[int, Field(ge=0)] = 0


class TimesModel(Strict):
    start_time: str
    end_time: str

    @property
    def range(self) -> Range:
        return intervals.parse_times(self.start_time, self.end_time)

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self.range  # noqa: B018 - raises IntervalError (a ValueError) when invalid
        return self


class PeriodModel(Strict):
    times: list[TimesModel] | None = None
    weekdays: list[Annotated[Range, _field(intervals.parse_weekdays)]] | None = None
    days_of_month: list[Annotated[Range, _field(intervals.parse_days_of_month)]] | None = None
    months: list[Annotated[Range, _field(intervals.parse_months)]] | None = None
    years: list[Annotated[Range, _field(intervals.parse_years)]] | None = None
    location: Annotated[ZoneInfo, PlainValidator(_location)] | None = None


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


class FlapModel(Strict):
    """Flap damping: `changes` firing/resolved changes within `within` is flapping; it
    stops after `quiet` without a change."""

    changes: Annotated[int, Field(ge=2)]
    within: Annotated[timedelta, PlainValidator(_duration), AfterValidator(_positive)]
    quiet: Annotated[timedelta, PlainValidator(_duration), AfterValidator(_positive)]


class RuleModel(Strict):
    name: RuleName
    matchers: list[Matcher] = Field(default_factory=list)
    severity: Severity
    escalation: str
    group_by: GroupBy = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    auto_resolve: Quiet | None = None  # None: `dedupe.auto_resolve` decides
    pending_for: Duration | None = None  # hold-down: step 1 waits this long
    flap: FlapModel | None = None


class DefaultModel(Strict):
    severity: Severity
    escalation: str
    group_by: GroupBy = Field(default_factory=list)
    auto_resolve: Quiet | None = None
    pending_for: Duration | None = None
    flap: FlapModel | None = None


class AutoResolveModel(Strict):
    """One entry of a `dedupe.auto_resolve` list: alerts matching `matchers` (all of
    them) resolve after `after` of quiet; the first matching entry decides."""

    matchers: list[Matcher] = Field(default_factory=list)
    after: Quiet


def _form(value: Any) -> str:
    return "<list>" if isinstance(value, list) else "<duration>"


# The forms a value may take, told apart by its YAML type (not by trying each, which would
# report every form's errors); the loader drops these tags from error paths.
UNION_TAGS = frozenset({"<list>", "<duration>"})
AutoResolveDefault = Annotated[
    Annotated[Quiet, Tag("<duration>")] | Annotated[list[AutoResolveModel], Tag("<list>")],
    Discriminator(_form),
]


class DedupeModel(Strict):
    window: Duration
    auto_resolve: AutoResolveDefault | None = None


class PostmortemModel(Strict):
    """Which resolved incidents get a postmortem draft, and when it is due after resolve."""

    severities: Annotated[list[Severity], Field(min_length=1), AfterValidator(_unique)]
    due: Duration


CHANNEL_FIELDS = ("date", "service", "environment", "severity", "rule", "id")
_CHANNEL_FIELD = re.compile(r"\{([^{}]*)\}")
_SLACK_ID = re.compile(r"[US][A-Z0-9]{2,20}")


def _channel_name(value: str) -> str:
    if len(value) > 80:
        raise ValueError("at most 80 characters (Slack's limit for channel names)")
    if value != value.lower():
        raise ValueError("Slack channel names are lower-case")
    for name in _CHANNEL_FIELD.findall(value):
        if name not in CHANNEL_FIELDS:
            raise ValueError(f"unknown field {{{name}}}; use {', '.join(CHANNEL_FIELDS)}")
    return value


def _slack_id(value: str) -> str:
    if not _SLACK_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack user id (U...) or user group id (S...)")
    return value


class IncidentChannelModel(Strict):
    """A Slack channel of its own for incidents of these severities."""

    severities: Annotated[list[Severity], Field(min_length=1), AfterValidator(_unique)]
    name: Annotated[str, Field(min_length=1), AfterValidator(_channel_name)] = (
        "inc-{date}-{service}-{id}"
    )
    invite: list[Annotated[str, AfterValidator(_slack_id)]] = Field(default_factory=list)
    archive_after: Duration | None = None


class SlackSectionModel(Strict):
    """Slack settings beyond targets."""

    incident_channel: IncidentChannelModel | None = None


class InhibitModel(Strict):
    source_matchers: Annotated[list[Matcher], Field(min_length=1)]
    target_matchers: Annotated[list[Matcher], Field(min_length=1)]
    equal: GroupBy = Field(default_factory=list)


class HeartbeatModel(Strict):
    """A heartbeat (docs/heartbeats.md): beats expected every `period`, plus `grace`."""

    period: Annotated[timedelta, PlainValidator(_duration), AfterValidator(_positive)]
    grace: Duration
    severity: Severity
    escalation: str
    labels: dict[LabelName, str] = Field(default_factory=dict)
    from_alert: Annotated[list[Matcher], Field(min_length=1)] | None = None
    # accepted `POST /heartbeats/<name>` tokens, comma-separated (rotation); empty: none
    token: str = ""


class StormSettingsModel(Strict):
    """Storm folding for a target (docs/rules.md#storm): more than `threshold` new-incident
    pages within `window` starts a storm; it ends after `cooldown` under the threshold.
    Unset fields come from `storm.defaults`, then from alertgw's defaults."""

    enabled: bool | None = None
    threshold: Annotated[int, Field(ge=1)] | None = None
    window: Annotated[timedelta, PlainValidator(_duration), AfterValidator(_positive)] | None = None
    cooldown: Annotated[timedelta, PlainValidator(_duration), AfterValidator(_positive)] | None = (
        None
    )


class StormModel(Strict):
    """The `storm:` section: settings for every target, and per-target overrides."""

    defaults: StormSettingsModel = Field(default_factory=StormSettingsModel)
    targets: dict[Name, StormSettingsModel] = Field(default_factory=dict)


class FileModel(Strict):
    """One rule file. In a directory, sections merge as `core.rules.loader` says."""

    version: Literal[1]
    severities: dict[Severity, SeverityModel] | None = None
    targets: dict[Name, TargetModel] = Field(default_factory=dict)
    escalations: dict[Name, EscalationModel] = Field(default_factory=dict)
    time_intervals: dict[Name, Annotated[list[PeriodModel], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    rules: list[RuleModel] = Field(default_factory=list)
    default: DefaultModel | None = None
    dedupe: DedupeModel | None = None
    postmortem: PostmortemModel | None = None
    slack: SlackSectionModel | None = None
    inhibit: list[InhibitModel] = Field(default_factory=list)
    heartbeats: dict[Name, HeartbeatModel] = Field(default_factory=dict)
    flap: FlapModel | None = None  # flap damping of every rule without its own
    storm: StormModel | None = None
