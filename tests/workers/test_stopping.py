"""Workers stop on SIGTERM/SIGINT as Kubernetes and systemd expect: real processes.

No test here times a stop: each waits well past the stop deadline and checks the exit
status, that no process is left behind and that every page arrives exactly once. The
measured stop times are in docs/operations.md.
"""

from __future__ import annotations

import signal
import socket
import subprocess

import pytest

from core.logs import rq_level
from tests.fakes.vendors import FakePagerDuty, fake_pagerduty, fake_slack
from tests.processes import running
from tests.workers.e2e import System, alertmanager_body, eventually
from workers.runtime.stopping import FORCED_EXIT_STATUS, STOP_DEADLINE_SECONDS, descendants

pytestmark = pytest.mark.slow
__all__ = ["fake_pagerduty", "fake_slack"]  # fixtures

# Far past any stop: a test that waits this long has found a worker that does not stop
PATIENCE = STOP_DEADLINE_SECONDS + 30


@pytest.fixture
def gw(processes: System) -> System:
    # a stopped worker's unacknowledged intake entries go to another within seconds
    processes.env["ALERTGW_CLAIM_IDLE_SECONDS"] = "2"
    return processes


def log_of(gw: System, process: subprocess.Popen[bytes]) -> str:
    assert gw.logs is not None
    return (gw.logs / f"worker-{gw.processes.index(process)}.log").read_text()


def started(gw: System, processes: int = 1) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A worker that is serving (every process), and the processes below it."""
    worker = gw.start_worker(processes)
    eventually(lambda: log_of(gw, worker).count(": started (delivery") == processes, 60)
    # one process: its RQ scheduler fork; N: multiprocessing's resource tracker, the N
    # processes and the scheduler fork of the one that holds the scheduler lock
    expected = 1 if processes == 1 else processes + 2
    return worker, eventually(lambda: at_least(expected, descendants(worker.pid)), 60)


def at_least(n: int, pids: list[int]) -> list[int]:
    return pids if len(pids) >= n else []


def stopped(worker: subprocess.Popen[bytes], below: list[int], signum: int) -> int:
    """Send `signum` as Kubernetes or systemd would (to the main process alone); the status."""
    worker.send_signal(signum)
    status = worker.wait(timeout=PATIENCE)
    # multiprocessing's resource tracker ends when it reads its parent's exit: allow a moment
    eventually(lambda: not [pid for pid in below if running(pid)], 10)
    return status


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_worker_stops_cleanly(gw: System, signum: signal.Signals) -> None:
    worker, below = started(gw)
    assert stopped(worker, below, signum) == 0
    log = log_of(gw, worker)
    assert f"stopping ({signum.name})" in log
    assert "worker 0: stopped" in log
    assert "Traceback" not in log


def test_a_delivery_in_flight_finishes_and_the_page_arrives_once(
    gw: System, fake_pagerduty: FakePagerDuty
) -> None:
    gw.start_gateway()
    worker, below = started(gw)
    fake_pagerduty.delay(3)  # PagerDuty is slow to answer the page
    assert gw.post(alertmanager_body("slow")) == 202
    fake_pagerduty.wait_for_arrivals(1, timeout=30)
    assert stopped(worker, below, signal.SIGTERM) == 0
    # the held page was answered before the worker exited
    assert [e["event_action"] for e in fake_pagerduty.events()] == ["trigger"]

    # another worker finds nothing left to send for it: it pages only the next alert
    started(gw)
    assert gw.post(alertmanager_body("next", service="payments")) == 202
    fake_pagerduty.wait_for_events(2, timeout=30)
    pages = [(e["event_action"], e["payload"]["summary"]) for e in fake_pagerduty.events()]
    assert len(pages) == 2
    assert all(action == "trigger" for action, _ in pages)


def test_a_second_signal_stops_at_once_and_hands_back_the_scheduler(
    gw: System, fake_pagerduty: FakePagerDuty
) -> None:
    gw.start_gateway()
    worker, below = started(gw)
    fake_pagerduty.delay(60)  # hangs past the client's timeout
    assert gw.post(alertmanager_body("stuck")) == 202
    fake_pagerduty.wait_for_arrivals(1, timeout=30)
    worker.send_signal(signal.SIGTERM)
    eventually(lambda: "stopping (SIGTERM)" in log_of(gw, worker), 30)
    assert stopped(worker, below, signal.SIGTERM) == FORCED_EXIT_STATUS
    assert "second SIGTERM: stopping at once" in log_of(gw, worker)
    # the next worker's scheduler need not wait a minute for the lock to lapse (what
    # becomes of the page a killed worker was sending: tests/test_faults_workers.py)
    assert not gw.redis.keys(f"rq:scheduler-lock:{gw.prefix}*")


def test_processes_stop_together_and_leave_nothing_behind(gw: System) -> None:
    worker, below = started(gw, processes=2)
    assert stopped(worker, below, signal.SIGTERM) == 0
    log = log_of(gw, worker)
    assert "worker 0: stopped" in log
    assert "worker 1: stopped" in log


def test_a_metrics_port_in_use_is_one_line_and_exit_2(gw: System) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # where the worker's metrics listen
        taken.listen()
        port = taken.getsockname()[1]
        worker = gw._spawn(["worker", "--metrics-port", str(port)], "worker")
        assert worker.wait(timeout=PATIENCE) == 2
        log = log_of(gw, worker)
        expected = (
            f"alertgw worker: metrics port {port} is in use (another worker or `alertgw up` on "
            "this machine?); choose another with --metrics-port or ALERTGW_WORKER_METRICS_PORT, "
            "or 0 for a free port"
        )
        assert expected in log.splitlines()
        assert "Traceback" not in log


def test_a_process_that_cannot_start_stops_the_others(gw: System) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # process 0 takes port - 1, process 1 finds its port taken
        worker = gw._spawn(
            ["worker", "--processes", "2", "--metrics-port", str(port - 1)], "worker"
        )
        assert worker.wait(timeout=PATIENCE) == 2  # once process 0 stopped too
        log = log_of(gw, worker)
        assert f"metrics port {port} is in use" in log
        assert "alertgw-worker-1 exited (status 2): stopping the others" in log


@pytest.mark.parametrize(
    ("level", "rq"),
    [("DEBUG", "DEBUG"), ("debug", "DEBUG"), ("INFO", "WARNING"), ("ERROR", "ERROR")],
)
def test_rq_logs_its_housekeeping_only_at_debug(level: str, rq: str) -> None:
    assert rq_level(level) == rq
