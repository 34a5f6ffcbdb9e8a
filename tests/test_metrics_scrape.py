"""SPEC §10: a Prometheus scrape of a gateway and a worker after real traffic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import System, alertmanager_body, eventually, free_port, system

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def running(
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    fake_pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
) -> Iterator[tuple[System, str]]:
    with system(redis_url, key_prefix, tmp_path, fake_pagerduty, fake_slack) as gw:
        gw.start_gateway()
        port = free_port()
        gw._spawn(["worker", "--processes", "1", "--metrics-port", str(port)], "worker")
        yield gw, f"http://127.0.0.1:{port}"


def test_gateway_and_worker_metrics_after_real_traffic(
    running: tuple[System, str], fake_pagerduty: FakePagerDuty
) -> None:
    gw, worker_url = running
    assert gw.post(alertmanager_body("fp-1")) == 202
    fake_pagerduty.wait_for_events(1, "trigger", timeout=20)
    assert gw.post(alertmanager_body("fp-1")) == 202  # the same alert again: deduplicated
    unauthorized = httpx.post(f"{gw.gateways[0]}/webhooks/alertmanager", json={}, timeout=5)
    assert unauthorized.status_code == 401

    gateway = scrape(gw.gateways[0])
    requests = "alertgw_webhook_requests_total"
    assert value(gateway, requests, source="alertmanager", code="202") == 2
    assert value(gateway, requests, source="alertmanager", code="401") == 1
    assert (
        value(gateway, "alertgw_alerts_received_total", source="alertmanager", status="firing") == 2
    )
    assert value(gateway, "alertgw_alerts_classified_total", severity="SEV1", rule="checkout") == 2
    assert value(gateway, "alertgw_webhook_duration_seconds_count", source="alertmanager") == 3
    assert value(gateway, "alertgw_rules_last_reload_success") == 1
    assert (value(gateway, "alertgw_rules_last_reload_timestamp_seconds") or 0) > 1.7e9

    def worker_settled() -> Samples | None:
        samples = scrape(worker_url)
        dedup = value(samples, "alertgw_alerts_deduplicated_total", source="alertmanager")
        open_sev1 = value(samples, "alertgw_incidents_open", severity="SEV1")
        return samples if dedup == 1 and open_sev1 == 1 else None

    worker = eventually(worker_settled, timeout=20)
    sent = "alertgw_notifications_total"
    assert value(worker, sent, channel="pagerduty", action="trigger", outcome="sent") == 1
    assert value(worker, sent, channel="slack", action="trigger", outcome="sent") == 1
    assert value(worker, "alertgw_escalation_steps_total", escalation="fast", step="1") == 1
    latency = "alertgw_alert_to_notification_seconds_count"
    assert value(worker, latency, channel="pagerduty", severity="SEV1") == 1
    # shared state is read from Redis at scrape time, by every process alike
    for samples in (worker, scrape(gw.gateways[0])):
        assert value(samples, "alertgw_incidents_open", severity="SEV1") == 1
        for severity in ("SEV1", "SEV2", "SEV3", "SEV4"):
            assert value(samples, "alertgw_intake_lag", severity=severity) == 0
        assert value(samples, "alertgw_dead_letters") == 0
