"""End-to-end harness: real gateway and worker processes on the test Redis, vendors faked.

The gateway (`alertgw serve`) and workers (`alertgw worker`) run as child processes with
their own environment; PagerDuty and Slack are the local fakes from `tests.fakes`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.fakes.vendors import TEST_BOT_TOKEN, FakePagerDuty, FakeSlack

TOKEN = "am-test-token"

RULES = """
version: 1
severities:
  SEV1: {{pagerduty_severity: critical, update_every: 15m}}
  SEV2: {{pagerduty_severity: error, update_every: 30m}}
  SEV3: {{pagerduty_severity: warning}}
  SEV4: {{pagerduty_severity: info}}
targets:
  oncall: {{pagerduty: {{routing_key: "rk-oncall-e2e"}}}}
  eng-lead: {{pagerduty: {{routing_key: "rk-lead-e2e"}}}}
  cto: {{pagerduty: {{routing_key: "rk-cto-e2e"}}}}
  incidents: {{slack: {{channel: "#incidents"}}}}
escalations:
  fast:
    steps:
      - notify: [oncall, incidents]
        wait: {wait}
      - notify: [eng-lead]
        wait: {wait}
      - notify: [cto]
rules:
  - name: checkout
    matchers: ['service="checkout"']
    severity: {severity}
    escalation: fast
    group_by: [service]
default:
  severity: SEV4
  escalation: fast
dedupe:
  window: 1h
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_rules(path: Path, wait: str = "1h", severity: str = "SEV1") -> None:
    text = RULES.format(wait=wait, severity=severity)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def alertmanager_body(
    fingerprint: str, status: str = "firing", service: str = "checkout"
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    alert = {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": service, "env": "production"},
        "annotations": {"summary": "5xx ratio above 5%"},
        "startsAt": now,
        "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "https://prometheus.example.com/graph",
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "alertgw",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "https://alertmanager.example.com",
        "alerts": [alert],
    }


@dataclass
class System:
    """Gateways and workers as processes; helpers to post alerts and wait."""

    env: dict[str, str]
    rules: Path
    redis: redis.Redis
    prefix: str
    gateways: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path | None = None

    def start_gateway(self) -> str:
        port = free_port()
        self._spawn(["serve", "--port", str(port)], f"gateway-{port}")
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url)
        self.gateways.append(url)
        return url

    def start_worker(self, processes: int = 1) -> subprocess.Popen[bytes]:
        return self._spawn(
            ["worker", "--processes", str(processes), "--metrics-port", "0"], "worker"
        )

    def post(
        self, body: dict[str, Any], gateway: int = 0, client: httpx.Client | None = None
    ) -> int:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        url = f"{self.gateways[gateway]}/webhooks/alertmanager"
        if client is not None:
            return client.post(url, json=body, headers=headers).status_code
        return httpx.post(url, json=body, headers=headers, timeout=10).status_code

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "alertgw.cli", *args],
            env=self.env,
            capture_output=True,
            timeout=30,
            check=True,
        )
        return done.stdout.decode()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        assert self.logs is not None
        with (self.logs / f"{name}-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "alertgw.cli", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill takes its children
            )
        self.processes.append(process)
        return process


def _wait_healthy(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gateway at {url} did not become healthy")


def eventually(check: Any, timeout: float = 15.0, every: float = 0.1) -> Any:
    """Poll `check()` until it returns a truthy value; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


@contextmanager
def system(
    redis_url: str,
    prefix: str,
    tmp: Path,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    wait: str = "1h",
    severity: str = "SEV1",
) -> Iterator[System]:
    rules = tmp / "rules.yaml"
    write_rules(rules, wait, severity)
    env = {
        **os.environ,
        "ALERTGW_REDIS_URL": redis_url,
        "ALERTGW_REDIS_PREFIX": prefix,
        "ALERTGW_RULES": str(rules),
        "ALERTGW_ALERTMANAGER_TOKEN": TOKEN,
        "ALERTGW_PAGERDUTY_EVENTS_URL": pagerduty.events_url,
        "ALERTGW_SLACK_API_URL": slack.api_url,
        "ALERTGW_SLACK_BOT_TOKEN": TEST_BOT_TOKEN,
        "ALERTGW_DELIVERY": "live",
        "ALERTGW_LOG_LEVEL": "INFO",
    }
    client = redis.Redis.from_url(redis_url)
    running = System(env, rules, client, prefix, logs=tmp)
    try:
        yield running
    finally:
        running.stop()
        _forget_rq_keys(client, prefix)
        client.close()


def _forget_rq_keys(client: redis.Redis, prefix: str) -> None:
    # RQ's keys carry the queue name (under our prefix), except the job hashes: find
    # those through the registries first
    queue = f"{prefix}notify"
    job_ids: set[bytes] = set()
    for key in client.scan_iter(match=f"rq:*{queue}*"):
        kind = client.type(key)
        if kind == b"zset":
            job_ids.update(client.zrange(key, 0, -1))
        elif kind == b"list":
            job_ids.update(client.lrange(key, 0, -1))
        client.delete(key)
    for job_id in job_ids:
        client.delete(b"rq:job:" + job_id.split(b":")[0])


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
