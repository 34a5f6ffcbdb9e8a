"""The `storm:` rules section: defaults, per-target overrides, folding turned off."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from core.rules import load_policy
from core.rules.model import Storm

HEAD = """version: 1
targets:
  oncall: {pagerduty: {routing_key: "k"}}
  lead: {pagerduty: {routing_key: "l"}}
  incidents: {slack: {channel: "#incidents"}}
escalations:
  standard:
    steps:
      - notify: [oncall, incidents]
default: {severity: SEV3, escalation: standard}
"""


def storms(tmp_path: Path, section: str) -> dict[str, Storm]:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + section)
    return dict(load_policy(path, environ={}).storms)


def test_no_storm_section_folds_nothing(tmp_path: Path) -> None:
    assert storms(tmp_path, "") == {}


def test_an_empty_section_folds_every_target_with_the_defaults(tmp_path: Path) -> None:
    default = Storm(10, timedelta(minutes=1), timedelta(minutes=5))
    assert storms(tmp_path, "storm: {}\n") == {
        "oncall": default,
        "lead": default,
        "incidents": default,
    }


def test_a_target_overrides_the_defaults_field_by_field(tmp_path: Path) -> None:
    section = """storm:
  defaults: {threshold: 20, window: 2m}
  targets:
    incidents: {threshold: 5}
    lead: {enabled: false}
"""
    assert storms(tmp_path, section) == {
        "oncall": Storm(20, timedelta(minutes=2), timedelta(minutes=5)),
        "incidents": Storm(5, timedelta(minutes=2), timedelta(minutes=5)),
    }


def test_folding_only_where_a_target_turns_it_on(tmp_path: Path) -> None:
    section = """storm:
  defaults: {enabled: false, cooldown: 10m}
  targets:
    oncall: {enabled: true}
"""
    assert storms(tmp_path, section) == {
        "oncall": Storm(10, timedelta(minutes=1), timedelta(minutes=10)),
    }
