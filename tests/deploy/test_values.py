"""values.yaml: every setting documented, and the schema refusing what the chart cannot use."""

from __future__ import annotations

import re

import pytest

from tests.deploy.chart import CHART, run_helm

VALUES = CHART / "values.yaml"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):(?P<value>.*)$")


def undocumented_settings(lines: list[str]) -> list[str]:
    """Keys holding a value with no `# --` comment directly above them.

    A key with nothing after its colon and no `# --` is a section: its own keys are checked.
    Everything under a documented key is its default value and needs no comment of its own.
    """
    missing: list[str] = []
    sections: list[tuple[int, bool]] = []  # (indent, documented as a whole)
    for number, line in enumerate(lines):
        match = KEY.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        while sections and sections[-1][0] >= indent:
            sections.pop()
        if any(documented for _, documented in sections):
            continue
        above = []
        for previous in reversed(lines[:number]):
            if not previous.strip().startswith("#"):
                break
            above.append(previous.strip())
        documented = any(comment.startswith("# --") for comment in above)
        if not documented and match["value"].strip():
            missing.append(f"values.yaml:{number + 1}: {match['key']}")
        sections.append((indent, documented))
    return missing


def test_every_setting_in_values_yaml_is_documented() -> None:
    assert undocumented_settings(VALUES.read_text().splitlines()) == []


def test_the_documentation_check_finds_an_undocumented_setting() -> None:
    lines = ["gateway:", "  # -- documented", "  replicas: 2", "  port: 8080"]
    assert undocumented_settings(lines) == ["values.yaml:4: port"]


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("gateway.replica=3", "additional properties 'replica' not allowed"),
        ("config.delivery=dryrun", "value must be one of 'live', 'dry-run'"),
        ("worker.metricsPort=70000", "/worker/metricsPort"),
        ("redis.embedded.appendfsync=sometimes", "/redis/embedded/appendfsync"),
    ],
)
def test_values_schema_refuses_what_the_chart_cannot_use(setting: str, complaint: str) -> None:
    done = run_helm("template", "x", str(CHART), "--set", setting)
    assert done.returncode != 0
    assert complaint in done.stderr


def test_values_schema_accepts_extra_secret_and_env_keys() -> None:
    done = run_helm(
        "template",
        "x",
        str(CHART),
        "--set",
        "secrets.values.PD_ONCALL_KEY=k",
        "--set",
        "env.TEAM=platform",
    )
    assert done.returncode == 0, done.stderr
