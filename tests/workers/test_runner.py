from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.workers.e2e import write_rules
from workers import runner


def test_a_worker_reports_to_sentry_with_the_rules_credentials_scrubbed(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, key_prefix: str, tmp_path: Path
):
    rules = tmp_path / "rules.yaml"
    write_rules(rules)
    calls: list[tuple[str, list[str]]] = []

    def init_sentry(settings: Settings, component: str, secrets: list[str]) -> bool:
        calls.append((component, list(secrets)))
        return True

    monkeypatch.setattr(runner, "init_sentry", init_sentry)
    settings = Settings(
        redis_url=redis_url,
        redis_prefix=key_prefix,
        rules=str(rules),  # type: ignore[arg-type]
        sentry_dsn="https://public@sentry.example.com/1",  # type: ignore[arg-type]
    )
    assert runner.run_process(settings, 0, 0, burst=True) == 0
    assert [component for component, _ in calls] == ["worker"]
    assert {"rk-oncall-e2e", "rk-lead-e2e", "rk-cto-e2e"} <= set(calls[0][1])
