"""Soak: gateway and worker memory (RSS) under steady traffic stays flat.

Run by hand from the repository root (not part of the test run):

    python bench/bench_soak.py [--rate 200] [--minutes 5] [--processes 2]

A private Redis, one gateway, `alertgw worker --processes N`, the fake vendors. For
`--minutes` the gateway gets `--rate` requests/s: 80% repeats of 50 long-lived incidents,
10% new alerts (each a new incident: a PagerDuty trigger and a Slack root), 10% resolves
of the alert that fired 30 s earlier (a PagerDuty resolve and a Slack edit + reply).
Every 15 s the RSS of the gateway and of each worker process is sampled.

Baseline, same run: each process's RSS after the first minute (warm-up: imports, pools,
caches). Figures: RSS at the end and its ratio to the baseline, and the growth per
minute over the rest of the run (a least-squares slope), also for its first and second
halves: growth that levels off shows as a slower second half. Issue 7 asks for 30
minutes; the default here is 5.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workers_common import (  # bench/ is not a package: run as a script
    System,
    alertmanager_body,
    load,
    pd_rules,
    rss_kib,
    running,
)

from tests.fakes.vendors import FakePagerDuty

SERVICES = 60
SAMPLE_SECONDS = 15.0
WARM_UP_SECONDS = 60.0


def traffic(gw: System, rate: float, seconds: float, stop: threading.Event) -> dict[int, int]:
    """Paced posts from a few threads; the count of each status."""
    codes: dict[int, int] = {}
    lock = threading.Lock()
    tag = uuid.uuid4().hex[:6]
    start = time.monotonic()
    total = int(rate * seconds)

    def body(n: int) -> dict[str, Any]:
        kind = n % 10
        # new incidents go round the routing keys: PagerDuty's limit is per key
        if kind == 0:  # a new incident
            return alertmanager_body(f"{tag}-new-{n}", service=f"svc-{n // 10 % SERVICES}")
        if kind == 5 and n >= 30 * rate:  # resolve what fired 30 s ago
            old = (n - int(30 * rate)) // 10 * 10
            service = f"svc-{old // 10 % SERVICES}"
            return alertmanager_body(f"{tag}-new-{old}", status="resolved", service=service)
        return alertmanager_body(f"{tag}-long-{n % 50}", service=f"svc-{n % 50}")

    def sender(offset: int, step: int) -> None:
        with httpx.Client(timeout=10) as client:
            for n in range(offset, total, step):
                if stop.is_set():
                    return
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
                status = gw.post(body(n), 0, client)
                with lock:
                    codes[status] = codes.get(status, 0) + 1

    threads = [threading.Thread(target=sender, args=(i, 8)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def worker_processes(parent: int) -> list[int]:
    """The processes `alertgw worker --processes N` spawned (not its helpers: the
    resource tracker, RQ's scheduler forked by one of them)."""
    found = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def slope_per_minute(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of RSS in KiB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    num = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    den = sum((t - mean_t) ** 2 for t, _ in samples) or 1.0
    return num / den * 60


def report(name: str, samples: list[tuple[float, int]]) -> None:
    after = [(t, v) for t, v in samples if t >= WARM_UP_SECONDS]
    if not after:
        print(f"{name}: too short a run to pass the warm-up")
        return
    base, last, peak = after[0][1], after[-1][1], max(v for _, v in after)
    # growth that levels off shows as a second half slower than the first
    half = len(after) // 2
    print(
        f"{name}: RSS {base / 1024:.1f} MiB after warm-up -> {last / 1024:.1f} MiB at the end "
        f"({last / base:.3f}x, peak {peak / 1024:.1f} MiB); "
        f"growth {slope_per_minute(after):+.0f} KiB/min (first half "
        f"{slope_per_minute(after[:half]):+.0f}, second half {slope_per_minute(after[half:]):+.0f})"
    )


def run(gw: System, pagerduty: FakePagerDuty, args: argparse.Namespace) -> None:
    gw.start_gateway()
    worker = gw.start_worker(args.processes)
    stop = threading.Event()
    result: dict[str, dict[int, int]] = {}
    seconds = args.minutes * 60
    load_thread = threading.Thread(
        target=lambda: result.update(codes=traffic(gw, args.rate, seconds, stop))
    )
    started = time.monotonic()
    load_thread.start()
    gateway_pid = gw.processes[0].pid
    samples: dict[str, list[tuple[float, int]]] = {}
    while load_thread.is_alive():
        load_thread.join(SAMPLE_SECONDS)
        at = time.monotonic() - started
        # the gateway is `alertgw serve` (uvicorn in that process); the worker spawns
        # one child per process: measure each of them
        pids = {"gateway": gateway_pid}
        pids.update({f"worker {i}": pid for i, pid in enumerate(worker_processes(worker.pid))})
        for name, pid in pids.items():
            samples.setdefault(name, []).append((at, rss_kib(pid)))
    # what the workers still had to do when the traffic stopped
    waiting = sum(int(gw.redis.xlen(f"{gw.prefix}intake:SEV{i}")) for i in range(1, 5))
    print(f"hand-off entries still waiting at the end: {waiting}")
    codes = result.get("codes", {})
    print(f"{sum(codes.values())} requests in {args.minutes:g} min at {args.rate:g}/s: {codes}")
    triggers = len(pagerduty.events(action="trigger"))
    resolves = len(pagerduty.events(action="resolve"))
    print(f"PagerDuty got {triggers} triggers, {resolves} resolves ({load()})")
    for name, series in samples.items():
        report(name, series)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    with running(pd_rules(SERVICES, "SEV2", chat=True)) as (gw, pagerduty, _slack):
        run(gw, pagerduty, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
