"""`alertgw up`: one command runs everything; Ctrl-C leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, payload
from tests.processes import children_of, running


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


@pytest.mark.slow
def test_up_runs_gateway_worker_and_embedded_redis_then_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTGW_", "SENTRY_"))}
    env.update(
        ALERTGW_RULES=str(REPO / "rules"),
        ALERTGW_WORKER_METRICS_PORT=str(free_port()),
    )
    up = subprocess.Popen(
        [sys.executable, "-m", "alertgw.cli", "up", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while get(f"http://127.0.0.1:{port}/readyz") != 200:
            assert up.poll() is None, up.stderr.read() if up.stderr else ""
            assert time.monotonic() < deadline, "alertgw up did not become ready"
            time.sleep(0.2)
        descendants = children_of(up.pid)
        assert len(descendants) >= 2  # gateway and worker (redis-server daemonizes)

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/alertmanager",
            data=payload("alertmanager", "firing_checkout.json"),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202  # unsigned is fine: it listens on loopback
            body = json.load(response)
        assert body["accepted"] == 2
        assert {a["severity"] for a in body["alerts"]} == {"SEV1"}
        assert (tmp_path / ".alertgw").is_dir()
    finally:
        up.send_signal(signal.SIGINT)
        stderr = up.communicate(timeout=30)[1]
    assert up.returncode == 0, stderr
    assert "listening on loopback only" in stderr
    assert "dry-run" in stderr
    for pid in descendants:
        assert not running(pid), f"child {pid} still running"
    redis_pid_file = list((tmp_path / ".alertgw").rglob("*.pid"))
    for pid_file in redis_pid_file:
        pid = int(pid_file.read_text().strip() or 0)
        assert pid == 0 or not running(pid), "embedded Redis still running"
