from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.handoff import stream_key
from core.settings import Settings
from tests.workers.conftest import Harness
from tests.workers.e2e import write_rules
from tests.workers.helpers import entry, hand_off
from workers.intake.reader import GROUP
from workers.runtime import runner


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


def test_the_intake_claims_a_dead_workers_entries_after_the_configured_delay(harness: Harness):
    redis_client, prefix = harness.ctx.redis, harness.ctx.prefix
    harness.ctx.settings = harness.ctx.settings.model_copy(update={"claim_idle_seconds": 0.3})
    intake = runner.build_intake(harness.ctx, "rescuer")
    assert (intake.claim_idle_ms, intake.claim_every) == (300, 0.15)
    hand_off(redis_client, prefix, entry())
    redis_client.xreadgroup(GROUP, "dead", {stream_key(prefix, "SEV1"): ">"})
    assert intake.drain() == 0  # the dead worker's for 0.3 s yet
    time.sleep(0.35)
    assert intake.drain() == 1
    (incident,) = harness.ctx.store.list(now=harness.clock.now)
    assert incident.key == entry().classification.incident_key
