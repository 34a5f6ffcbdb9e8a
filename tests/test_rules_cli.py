"""`alertgw rules check` and `alertgw rules test`, as ops people run them in CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alertgw.cli import main
from tests.conftest import PAYLOADS, REPO


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_passes_the_shipped_rules_and_lists_warnings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "rules", "check", str(REPO / "rules"))
    assert status == 0
    assert "OK:" in err
    # the shipped targets read credentials from the environment; unset is a warning only
    assert all(line.startswith("warning: ") for line in out.splitlines())


def test_check_fails_with_file_line_col_for_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "version: 1\n"
        "targets: {incidents: {slack: {channel: '#incidents'}}}\n"
        "escalations:\n"
        "  chat: {steps: [{notify: [incidents], wait: 5x}]}\n"
        "rules:\n"
        "  - name: x\n"
        "    matchers: ['service=~\"(\"']\n"
        "    severity: SEV1\n"
        "    escalation: chat\n"
        "default: {severity: SEV3, escalation: chat}\n"
    )
    status, out, err = run(capsys, "rules", "check", str(rules))
    assert status == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{rules}:") for line in lines)
    assert any(":4:" in line and "wait" in line for line in lines)
    assert any(":7:" in line and "matchers" in line for line in lines)
    assert "2 problem(s)" in err


def test_test_prints_one_json_line_per_alert_with_the_escalation_timeline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(
        capsys,
        "rules",
        "test",
        "--source",
        "alertmanager",
        str(PAYLOADS / "alertmanager" / "firing_checkout.json"),
        "--rules",
        str(REPO / "rules"),
    )
    assert status == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["fingerprint"] == "am:6a3f1c2b9d8e7f01"
    assert second["fingerprint"] == "am:7b4e2d3c0a9f8e12"
    assert first["status"] == "firing"
    assert first["severity"] == "SEV1"
    assert first["rule"] == "checkout-or-payments-down"
    assert first["incident"] == second["incident"]  # grouped by service and environment
    assert first["labels"]["service"] == "checkout"
    assert first["timeline"][0] == {"after": "0s", "notify": ["oncall", "incidents"]}
    assert [step["after"] for step in first["timeline"]] == ["0s", "5m", "20m", "50m"]


def test_test_reads_headers_for_sources_that_need_them(capsys: pytest.CaptureFixture[str]) -> None:
    fixture = next((PAYLOADS / "sentry").glob("metric_alert*critical*.json"))
    status, out, _ = run(
        capsys,
        "rules",
        "test",
        "--source",
        "sentry",
        str(fixture),
        "--header",
        "Sentry-Hook-Resource: metric_alert",
        "--rules",
        str(REPO / "rules"),
    )
    assert status == 0
    (result,) = (json.loads(line) for line in out.splitlines())
    assert result["fingerprint"].startswith("sentry:metric:")


def test_test_reports_a_bad_payload_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = tmp_path / "broken.json"
    body.write_text('{"version": "4"')
    status, _, err = run(capsys, "rules", "test", "--source", "alertmanager", str(body))
    assert status == 1
    assert "broken.json: body is not valid JSON" in err
    assert "Traceback" not in err
