"""Priority: how fast a SEV1 reaches PagerDuty behind a backlog of SEV4 noise.

Run by hand from the repository root (not part of the test run):

    python bench/bench_priority.py [--backlog 10000] [--pages 40] [--processes 2]

A private Redis, one gateway, `alertgw worker --processes N`, the fake vendors. SEV4
alerts (each a new incident, chat-only: a Slack message each) are posted while the
workers are stopped, so `--backlog` of them wait in the hand-off; then the workers start
and, while they drain the backlog, SEV1 alerts (each a new incident paging PagerDuty)
arrive one every 0.25 s. Each SEV1 is timed from just before its POST to the fake
PagerDuty's arrival time of its trigger.

Baseline, in the same run: the same SEV1 alerts with nothing queued (idle latency).
Goal (issue 4): backlog p99 <= 250 ms and <= 2x the idle p99.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workers_common import (  # bench/ is not a package: run as a script
    System,
    alertmanager_body,
    arrivals,
    load,
    ms,
    pd_rules,
    percentile,
    post_all,
    running,
    wait_until,
)

from tests.fakes.vendors import FakePagerDuty, FakeSlack

SERVICES = 20  # SEV1 services, each its own routing key (PagerDuty's limit is per key)


def pages(gw: System, pagerduty: FakePagerDuty, n: int, every: float) -> list[float]:
    """Post `n` SEV1 alerts, one per `every` s; their received -> trigger latencies."""
    sent: dict[str, float] = {}
    with httpx.Client(timeout=30) as client:
        for i in range(n):
            fingerprint = f"sev1-{uuid.uuid4().hex[:8]}"
            service = f"svc-{i % SERVICES}"
            sent[f"svc-{i % SERVICES}:am:{fingerprint}"] = time.time()
            gw.post(alertmanager_body(fingerprint, service=service), 0, client)
            time.sleep(every)
    wait_until(lambda: len(arrivals(pagerduty, set(sent))) == len(sent), timeout=120)
    got = arrivals(pagerduty, set(sent))
    return [got[key] - at for key, at in sent.items() if key in got]


def backlog(gw: System, n: int) -> None:
    tag = uuid.uuid4().hex[:6]
    bodies = [alertmanager_body(f"noise-{tag}-{i}", service="web") for i in range(n)]
    codes = post_all(gw, bodies)
    assert codes == [202] * n, "the gateway refused part of the backlog"


def lag(gw: System) -> int:
    return sum(int(gw.redis.xlen(f"{gw.prefix}intake:{s}")) for s in ("SEV3", "SEV4"))


def run(gw: System, pagerduty: FakePagerDuty, slack: FakeSlack, args: argparse.Namespace) -> None:
    gw.start_gateway()
    worker = gw.start_worker(args.processes)
    # warm up: every routing key once per worker process
    warm = [alertmanager_body(f"warm-{i}", service=f"svc-{i % SERVICES}") for i in range(80)]
    post_all(gw, warm)
    wait_until(lambda: len(pagerduty.events(action="trigger")) >= 80, timeout=60)
    time.sleep(1.0)
    idle = pages(gw, pagerduty, args.pages, 0.05)
    print(f"idle: SEV1 received -> PagerDuty trigger ({len(idle)}): {ms(idle)}")

    gw.kill(worker)
    started = time.monotonic()
    backlog(gw, args.backlog)
    print(f"queued {args.backlog} SEV4 alerts in {time.monotonic() - started:.1f} s ({load()})")
    gw.start_worker(args.processes)
    wait_until(lambda: lag(gw) < args.backlog * 0.95, timeout=60, every=0.01)
    left = lag(gw)
    behind = pages(gw, pagerduty, args.pages, 0.25)
    print(
        f"behind the backlog (workers draining it; {left} SEV3/SEV4 entries waiting when the "
        f"first SEV1 arrived, {lag(gw)} after the last): {ms(behind)}"
    )
    idle99, behind99 = percentile(idle, 0.99), percentile(behind, 0.99)
    verdict = "met" if behind99 <= 0.25 and behind99 <= 2 * idle99 else "NOT met"
    print(
        f"ratio to idle: p50 {percentile(behind, 0.5) / percentile(idle, 0.5):.2f}x, "
        f"p99 {behind99 / idle99:.2f}x; goal p99 <= 250 ms and <= 2x idle: {verdict}"
    )
    print(f"Slack messages for the noise so far: {len(slack.messages())} ({load()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=10_000, help="SEV4 alerts queued")
    parser.add_argument("--pages", type=int, default=40, help="SEV1 alerts timed in each phase")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    with running(pd_rules(SERVICES, "SEV1", chat_only_default=True)) as (gw, pagerduty, slack):
        run(gw, pagerduty, slack, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
