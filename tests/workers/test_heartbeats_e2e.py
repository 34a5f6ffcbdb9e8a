"""Heartbeats with real processes: the Alertmanager posting Watchdog stops, on-call is paged.

Short periods instead of a virtual clock; no assertion on how fast, only on what is sent,
with generous waits, and beats kept coming in the background while the end is checked so
no second miss can race the assertions on a slow machine.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.fakes.vendors import FakePagerDuty, fake_pagerduty, fake_slack
from tests.workers.e2e import System, eventually

pytestmark = pytest.mark.slow
__all__ = ["fake_pagerduty", "fake_slack"]  # fixtures

CRON_TOKEN = "cron-e2e-token"
RULES = f"""
version: 1
targets:
  oncall: {{pagerduty: {{routing_key: "rk-oncall-e2e"}}}}
  incidents: {{slack: {{channel: "#incidents"}}}}
escalations:
  standard:
    steps:
      - notify: [oncall, incidents]
heartbeats:
  watchdog:
    from_alert: ['alertname="Watchdog"']
    period: 2s
    grace: 8s
    severity: SEV2
    escalation: standard
  nightly-export:
    period: 2s
    grace: 8s
    severity: SEV3
    escalation: standard
    token: "{CRON_TOKEN}"
default: {{severity: SEV4, escalation: standard}}
"""


def watchdog_body() -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    alert = {
        "status": "firing",
        "labels": {"alertname": "Watchdog", "severity": "none", "prometheus": "monitoring/k8s"},
        "annotations": {"summary": "An alert that should always be firing."},
        "startsAt": now,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://prometheus.example.com/graph",
        "fingerprint": "e0c4a2d1f1a3b2c0",
    }
    return {
        "version": "4",
        "groupKey": '{}/{alertname="Watchdog"}:{}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "alertgw",
        "groupLabels": {"alertname": "Watchdog"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "https://alertmanager.example.com",
        "alerts": [alert],
    }


class Senders:
    """Alertmanager re-sending Watchdog and a cron job pinging, every half second."""

    def __init__(self, gw: System) -> None:
        self.gw = gw
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat_once(self) -> None:
        assert self.gw.post(watchdog_body()) == 202
        url = f"{self.gw.gateways[0]}/heartbeats/nightly-export?token={CRON_TOKEN}"
        assert httpx.post(url, timeout=10).status_code == 202

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            # a slow gateway: the next beat comes anyway
            with contextlib.suppress(AssertionError, httpx.HTTPError):
                self.beat_once()
            self._stop.wait(0.5)


@pytest.fixture
def gw(processes: System) -> System:
    processes.rules.write_text(RULES)
    processes.env["ALERTGW_API_TOKEN"] = "api-e2e-token"
    processes.start_gateway()
    processes.start_worker()
    return processes


def test_stopping_the_senders_pages_once_per_heartbeat_and_beating_again_resolves(
    gw: System, fake_pagerduty: FakePagerDuty
):
    senders = Senders(gw)
    senders.beat_once()  # armed
    # both go quiet: period + grace + one check later each pages, once
    fake_pagerduty.wait_for_events(2, "trigger", timeout=90)
    triggers = fake_pagerduty.events(action="trigger")
    assert sorted(e["dedup_key"] for e in triggers) == [
        "heartbeat:nightly-export",
        "heartbeat:watchdog",
    ]
    watchdog = next(e for e in triggers if e["dedup_key"] == "heartbeat:watchdog")
    assert watchdog["routing_key"] == "rk-oncall-e2e"
    assert watchdog["payload"]["severity"] == "error"  # SEV2
    assert "Heartbeat watchdog missed: no beat since" in watchdog["payload"]["summary"]
    assert "(period 2s, grace 8s)" in watchdog["payload"]["summary"]
    states = gw.cli("heartbeats", "--url", gw.gateways[0], "list")
    assert [line.split()[1] for line in states.splitlines()] == ["missed", "missed"]

    senders.start()  # Prometheus and the cron job are back
    try:
        fake_pagerduty.wait_for_events(2, "resolve", timeout=90)
        keys = [
            (e["event_action"], e["dedup_key"])
            for e in fake_pagerduty.events()
            if e["event_action"] in ("trigger", "resolve")
        ]
        assert sorted(keys) == [
            ("resolve", "heartbeat:nightly-export"),
            ("resolve", "heartbeat:watchdog"),
            ("trigger", "heartbeat:nightly-export"),
            ("trigger", "heartbeat:watchdog"),
        ]
        eventually(lambda: "missed" not in gw.cli("heartbeats", "--url", gw.gateways[0], "list"))
    finally:
        senders.stop()
