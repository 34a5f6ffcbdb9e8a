"""The chart's probes hit endpoints the real processes serve.

Each component runs as the chart would start it (its rendered arguments and plain
environment), against the test Redis, on free loopback ports; every probe must answer 200.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deploy.chart import GATEWAY, REPO, WORKER, container, env, one, port_number, render

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
ALERTGW = Path(sys.executable).with_name("alertgw")
STARTUP_DEADLINE = 20.0

Start = Callable[[str, dict[int, int]], subprocess.Popen[bytes]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for(url: str, process: subprocess.Popen[bytes]) -> int | None:
    """The status of the first answer from url, waiting for the process to start listening."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline and process.poll() is None:
        status = answers(url)
        if status is not None:
            return status
        time.sleep(0.1)
    return answers(url)


@pytest.fixture
def chart_process(redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[Start]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(name: str, ports: dict[int, int]) -> subprocess.Popen[bytes]:
        workload = one(render(), "Deployment", name)
        variables = dict(os.environ) | env(workload)
        variables |= {
            "ALERTGW_REDIS_URL": redis_url,
            "ALERTGW_REDIS_PREFIX": key_prefix,
            # the image copies the repository's rules/ to ALERTGW_RULES
            "ALERTGW_RULES": str(REPO / "rules"),
            "ALERTGW_HOST": "127.0.0.1",
            "ALERTGW_DELIVERY": "dry-run",
        }
        for variable in ("ALERTGW_PORT", "ALERTGW_WORKER_METRICS_PORT"):
            if variable in variables and int(variables[variable]) in ports:
                variables[variable] = str(ports[int(variables[variable])])
        log = tmp_path / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(ALERTGW), *container(workload)["args"]],
                env=variables,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.returncode is not None, log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", [GATEWAY, WORKER])
def test_every_probe_of_the_chart_answers_200(name: str, chart_process: Start) -> None:
    workload = one(render(), "Deployment", name)
    chart_env = env(workload)
    ports = {
        int(chart_env[variable]): free_port()
        for variable in ("ALERTGW_PORT", "ALERTGW_WORKER_METRICS_PORT")
        if variable in chart_env
    }
    process = chart_process(name, ports)
    spec = container(workload)
    probes = [spec[probe]["httpGet"] for probe in PROBES if probe in spec]
    assert probes, f"{name} has no HTTP probes"
    for probe in probes:
        port = ports[port_number(workload, probe["port"])]
        url = f"http://127.0.0.1:{port}{probe['path']}"
        status = wait_for(url, process)
        assert status == 200, f"{name}: {url} answered {status}"
