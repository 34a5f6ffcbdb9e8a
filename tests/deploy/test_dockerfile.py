"""The Dockerfile agrees with the chart and the settings: user, ports, rules path, commands."""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy.chart import CHART, REPO, load_values

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    pairs = (line.split(None, 1) for line in lines if line and not line.startswith("#"))
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for op, args in steps:
        if op == "ENV":
            found |= dict(re.findall(r"(\w+)=(\S+)", args))
    return found


def test_both_stages_use_the_same_pinned_slim_python_3_11() -> None:
    bases = [args.split()[0] for op, args in instructions() if op == "FROM"]
    assert len(bases) == 2
    assert len(set(bases)) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", bases[0])


def test_runtime_runs_as_the_user_the_chart_expects() -> None:
    (user,) = [args for op, args in final_stage() if op == "USER"]
    uid = int(user.split(":")[0])
    assert uid != 0
    assert load_values(CHART / "values.yaml")["podSecurityContext"]["runAsUser"] == uid


def test_runtime_listens_everywhere_and_finds_rules_where_the_chart_mounts_them() -> None:
    variables = env_of(final_stage())
    values = load_values(CHART / "values.yaml")
    assert variables["ALERTGW_HOST"] == "0.0.0.0"
    assert variables["ALERTGW_RULES"] == values["rules"]["mountPath"]
    (copy_rules,) = [args for op, args in final_stage() if op == "COPY" and "rules" in args]
    assert copy_rules.split() == ["rules", values["rules"]["mountPath"]]
    (exposed,) = [args for op, args in final_stage() if op == "EXPOSE"]
    ports = {int(port) for port in exposed.split()}
    assert ports == {values["gateway"]["port"], values["worker"]["metricsPort"]}
    assert int(variables["ALERTGW_PORT"]) == values["gateway"]["port"]
    assert int(variables["ALERTGW_WORKER_METRICS_PORT"]) == values["worker"]["metricsPort"]


def test_one_image_runs_serve_by_default_and_worker_on_request() -> None:
    stage = dict(final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["alertgw"]
    assert json.loads(stage["CMD"]) == ["serve"]


def test_healthcheck_asks_healthz_with_python() -> None:
    (check,) = [args for op, args in final_stage() if op == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD") + len("CMD") :])
    assert command[0] == "python"
    assert "/healthz" in command[-1]


def test_dependencies_come_from_the_pyproject_pins_into_a_copied_venv() -> None:
    steps = instructions()
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert "tomllib" in runs
    assert "pyproject.toml" in runs
    assert "--no-deps ." in runs
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final_stage()


@pytest.mark.parametrize("kept_out", [".venv", ".git", "tests", ".tools", "**/__pycache__"])
def test_dockerignore_keeps_local_state_out_of_the_build(kept_out: str) -> None:
    patterns = (REPO / ".dockerignore").read_text().splitlines()
    assert kept_out in patterns
