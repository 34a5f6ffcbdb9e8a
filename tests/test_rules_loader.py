"""Loading valid rule files: env substitution, merging, compiled values, warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.rules import RulesError, load_policy
from core.rules.model import PagerDutyTarget, SeverityPolicy, SlackTarget, Step

PATHS = """\
version: 1
targets:
  oncall: {pagerduty: {routing_key: "${PD_KEY:-}"}}
  chat: {slack: {channel: "${CHANNEL:-#incidents}"}}
escalations:
  standard:
    steps:
      - notify: [oncall, chat]
        wait: 5m
      - notify: [oncall]
        severities: [SEV1, SEV2]
        during: office
    repeat: 1
time_intervals:
  office:
    - weekdays: ['monday:friday']
      times: [{start_time: '09:00', end_time: '17:30'}]
      location: America/New_York
"""
CLASSIFY = """\
version: 1
rules:
  - name: checkout
    matchers: ['service="${CHECKOUT_SERVICE:-checkout}"']
    severity: SEV1
    escalation: standard
default: {severity: SEV3, escalation: standard}
"""


def write(folder: Path, **files: str) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_directory_merges_its_yaml_files(tmp_path: Path) -> None:
    write(tmp_path, **{"b.yaml": CLASSIFY, "a.yaml": PATHS, "notes.txt": "not rules"})
    policy = load_policy(tmp_path, environ={})
    assert policy.files == (tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert [rule.name for rule in policy.rules] == ["checkout"]
    assert policy.default.name == "default"
    assert policy.default.severity == "SEV3"
    escalation = policy.escalations["standard"]
    assert escalation.repeat == 1
    assert escalation.steps == (
        Step(("oncall", "chat"), timedelta(minutes=5)),
        Step(("oncall",), None, frozenset({"SEV1", "SEV2"}), "office"),
    )
    assert policy.targets["oncall"].pagerduty == PagerDutyTarget("")
    assert policy.targets["chat"].slack == SlackTarget(channel="#incidents")
    office = policy.time_intervals["office"]
    assert office.contains(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 10:00 in New York
    assert not office.contains(datetime(2026, 3, 2, 22, 30, tzinfo=UTC))  # 17:30
    # defaults the plan sets when a policy does not say
    assert policy.severities["SEV1"] == SeverityPolicy("critical", timedelta(minutes=15))
    assert policy.severities["SEV4"] == SeverityPolicy("info")
    assert policy.dedupe_window == timedelta(hours=1)


def test_the_loader_does_not_recurse(tmp_path: Path) -> None:
    write(tmp_path, **{"a.yaml": PATHS + CLASSIFY.removeprefix("version: 1\n")})
    (tmp_path / "examples").mkdir()
    write(tmp_path / "examples", **{"broken.yaml": "not: [valid"})
    assert load_policy(tmp_path, environ={}).rules[0].name == "checkout"


def test_env_substitution_and_defaults(tmp_path: Path) -> None:
    write(tmp_path, **{"a.yaml": PATHS, "b.yaml": CLASSIFY})
    environ = {"PD_KEY": "routing-key-1", "CHANNEL": "", "CHECKOUT_SERVICE": "shop"}
    policy = load_policy(tmp_path, environ=environ)
    assert policy.targets["oncall"].pagerduty == PagerDutyTarget("routing-key-1")
    assert policy.targets["chat"].slack == SlackTarget(channel="")  # set, even if empty
    assert str(policy.rules[0].matchers[0]) == 'service="shop"'


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, **{"a.yaml": PATHS, "b.yaml": CLASSIFY})
    monkeypatch.setenv("PD_KEY", "from-os-environ")
    assert load_policy(tmp_path).targets["oncall"].pagerduty == PagerDutyTarget("from-os-environ")


def test_literal_dollar_brace_and_several_references(tmp_path: Path) -> None:
    text = CLASSIFY.replace('service="${CHECKOUT_SERVICE:-checkout}"', 'title="$${A}-${X}-${Y:-y}"')
    write(tmp_path, **{"a.yaml": PATHS, "b.yaml": text})
    policy = load_policy(tmp_path, environ={"X": "x"})
    assert policy.rules[0].matchers[0].matches({"title": "${A}-x-y"})


def test_an_unset_variable_is_reported_once_per_value(tmp_path: Path) -> None:
    text = PATHS.replace("wait: 5m", 'wait: "${WAIT}"')
    write(tmp_path, **{"a.yaml": text, "b.yaml": CLASSIFY})
    with pytest.raises(RulesError) as raised:
        load_policy(tmp_path, environ={})
    assert raised.value.problems == [
        f"{tmp_path / 'a.yaml'}:9:15: escalations.standard.steps[0].wait: environment variable "
        "WAIT is not set (write ${WAIT:-} to allow it to be empty)"
    ]


def test_a_malformed_reference_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, **{"a.yaml": PATHS.replace("${PD_KEY:-}", "${PD KEY}"), "b.yaml": CLASSIFY})
    with pytest.raises(RulesError) as raised:
        load_policy(tmp_path, environ={})
    assert raised.value.problems == [
        f"{tmp_path / 'a.yaml'}:3:37: targets.oncall.pagerduty.routing_key: "
        "invalid ${...} reference: write ${NAME} or ${NAME:-default}"
    ]


def test_problems_from_every_file_are_reported_together(tmp_path: Path) -> None:
    write(
        tmp_path,
        **{
            "a.yaml": PATHS.replace("wait: 5m", "wait: soon"),
            "b.yaml": CLASSIFY.replace("severity: SEV1", "severity: SEV0").replace(
                "rules:", "rulez:"
            ),
        },
    )
    with pytest.raises(RulesError) as raised:
        load_policy(tmp_path, environ={})
    assert [p.split(": ")[1] for p in raised.value.problems] == [
        "escalations.standard.steps[0].wait",
        "rulez",
    ]


def test_severities_and_dedupe_override_defaults(tmp_path: Path) -> None:
    extra = (
        "severities:\n  SEV3: {pagerduty_severity: error, update_every: 2h}\n"
        "dedupe: {window: 30m}\n"
    )
    write(tmp_path, **{"a.yaml": PATHS + extra, "b.yaml": CLASSIFY})
    policy = load_policy(tmp_path, environ={})
    assert policy.severities["SEV3"] == SeverityPolicy("error", timedelta(hours=2))
    assert policy.severities["SEV1"] == SeverityPolicy("critical", timedelta(minutes=15))
    assert policy.dedupe_window == timedelta(minutes=30)


def test_warnings(tmp_path: Path) -> None:
    extra = "  unused: {slack: {webhook_url: ''}}\n"
    text = PATHS.replace("targets:\n", "targets:\n" + extra)
    text += "  spare:\n    - weekdays: [sunday]\n"
    write(tmp_path, **{"a.yaml": text, "b.yaml": CLASSIFY})
    a = tmp_path / "a.yaml"
    assert load_policy(tmp_path, environ={}).warnings == (
        f"{a}:3:33: targets.unused.slack.webhook_url: empty credential; "
        "this target is skipped in live delivery",
        f"{a}:4:37: targets.oncall.pagerduty.routing_key: empty credential; "
        "this target is skipped in live delivery",
        f"{a}:3:3: targets.unused: target is not notified by any escalation step",
        f"{a}:20:3: time_intervals.spare: time interval is not used by any step's `during`",
    )
    environ = {"PD_KEY": "k"}
    assert len(load_policy(tmp_path, environ=environ).warnings) == 3


AUTO_RESOLVE = """\
version: 1
targets:
  oncall: {pagerduty: {routing_key: k}}
escalations:
  standard: {steps: [{notify: [oncall]}]}
rules:
  - name: own
    matchers: ['service="a"']
    severity: SEV2
    escalation: standard
    auto_resolve: 30m
  - name: off
    matchers: ['service="b"']
    severity: SEV2
    escalation: standard
    auto_resolve: never
default: {severity: SEV3, escalation: standard}
dedupe:
  window: 2h
  auto_resolve: DEFAULT
"""


def test_auto_resolve_the_rule_first_then_the_first_matching_dedupe_entry(
    tmp_path: Path,
) -> None:
    listed = "\n    - {matchers: ['source=\"sentry\"'], after: 4h}\n    - {after: 1d}"
    folder = write(tmp_path, **{"rules.yaml": AUTO_RESOLVE.replace("DEFAULT", listed)})
    policy = load_policy(folder, environ={})
    assert policy.dedupe_window == timedelta(hours=2)
    assert policy.quiet_for("own", {"source": "sentry"}) == timedelta(minutes=30)
    assert policy.quiet_for("off", {"source": "sentry"}) is None
    assert policy.quiet_for("default", {"source": "sentry"}) == timedelta(hours=4)
    assert policy.quiet_for("default", {"source": "datadog"}) == timedelta(days=1)
    assert policy.quiet_for("a-rule-since-removed", {}) == timedelta(days=1)


def test_auto_resolve_as_one_duration_or_unset(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "unset").mkdir()
    one = write(tmp_path / "one", **{"rules.yaml": AUTO_RESOLVE.replace("DEFAULT", "3h")})
    assert load_policy(one, environ={}).quiet_for("default", {}) == timedelta(hours=3)
    text = AUTO_RESOLVE.replace("  auto_resolve: DEFAULT\n", "")
    unset = write(tmp_path / "unset", **{"rules.yaml": text})
    policy = load_policy(unset, environ={})
    assert policy.quiet_for("default", {"source": "sentry"}) is None
    assert policy.quiet_for("own", {}) == timedelta(minutes=30)
