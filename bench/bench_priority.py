"""Priority: how fast a SEV1 reaches PagerDuty behind a backlog of SEV4 noise.

Run by hand from the repository root (not part of the test run):

    python bench/bench_priority.py [--backlog 10000] [--pages 40] [--processes 2]

A private Redis, one gateway, `alertgw worker --processes N`, the fake vendors. SEV4
alerts (each a new incident, chat-only: a Slack message each) are posted while the
workers are stopped, so `--backlog` of them wait in the hand-off; then the workers start
and, while they drain the backlog, SEV1 alerts (each a new incident paging PagerDuty)
arrive one every 0.25 s. Each SEV1 is timed from just before its POST to the fake
PagerDuty's arrival time of its trigger, and split into stages from what its incident
records: POST -> the gateway read it (`received_at`) -> in the hand-off (the stream
entry's id is Redis's time of the XADD) -> applied (`opened_at`, just before the
transition) -> first step claimed (`step_at`) -> PagerDuty got it. Each stage's p50/p99
is over its own values (they do not add up).

Baseline, in the same run: the same SEV1 alerts with nothing queued (idle latency).
Goal (issue 4): backlog p99 <= 250 ms and <= 2x the idle p99.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

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

from core.incidents.store import IncidentStore
from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import TOKEN

SERVICES = 20  # SEV1 services, each its own routing key (PagerDuty's limit is per key)


Timed = dict[str, tuple[float, float]]  # incident key -> (posted, PagerDuty got it)


def pages(gw: System, pagerduty: FakePagerDuty, n: int, every: float) -> Timed:
    """Post `n` SEV1 alerts, one per `every` s; when each was posted and paged.

    From a process of its own: this one serves the fake vendors, whose threads (a Slack
    message per SEV4 while the backlog drains) would hold the poster's GIL and add their
    wait to the figure."""
    bodies = {}
    for i in range(n):
        fingerprint = f"sev1-{uuid.uuid4().hex[:8]}"
        service = f"svc-{i % SERVICES}"
        bodies[f"{service}:am:{fingerprint}"] = alertmanager_body(fingerprint, service=service)
    url = f"{gw.gateways[0]}/webhooks/alertmanager"
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as poster:
        sent = poster.submit(post_paced, url, bodies, every).result()
    if not wait_until(lambda: len(arrivals(pagerduty, set(sent))) == len(sent), timeout=120):
        give_up(gw, f"{len(sent) - len(arrivals(pagerduty, set(sent)))} SEV1s never paged")
    got = arrivals(pagerduty, set(sent))
    return {key: (at, got[key]) for key, at in sent.items() if key in got}


def post_paced(url: str, bodies: dict[str, Any], every: float) -> dict[str, float]:
    """POST each body, one per `every` s; when each POST started (in the poster process)."""
    sent: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=30) as client:
        for key, body in bodies.items():
            sent[key] = time.time()
            assert client.post(url, json=body, headers=headers).status_code == 202
            time.sleep(every)
    return sent


def latencies(timed: Timed) -> list[float]:
    return [arrived - posted for posted, arrived in timed.values()]


def stages(gw: System, timed: Timed) -> str:
    """Where the time went, stage by stage (see the module's docstring)."""
    store = IncidentStore(gw.redis, gw.prefix, timedelta(hours=1))
    rows = []
    for key, (posted, arrived) in timed.items():
        incident = store.get(key)
        if incident is None or incident.step_at is None:
            continue
        received = incident.received_at.timestamp()  # the gateway's clock, body read
        queued = int(incident.inc.split("-")[0]) / 1000  # the hand-off entry's id
        opened, stepped = incident.opened_at.timestamp(), incident.step_at.timestamp()
        times = (posted, received, queued, opened, stepped, arrived)
        rows.append([later - earlier for earlier, later in itertools.pairwise(times)])
    names = (
        "POST -> the gateway read it",
        "read -> in the hand-off",
        "hand-off -> applied",
        "applied -> step",
        "step -> PagerDuty",
    )
    return "\n".join(f"  {name}: {ms([r[i] for r in rows])}" for i, name in enumerate(names))


def give_up(gw: System, why: str) -> None:
    """Stop the run with the end of each worker's log (the harness deletes them)."""
    assert gw.logs is not None
    for log in sorted(gw.logs.glob("worker-*.log")):
        print(f"--- {log.name}\n{log.read_text()[-4000:]}")
    raise SystemExit(why)


def backlog(gw: System, n: int) -> None:
    tag = uuid.uuid4().hex[:6]
    bodies = [alertmanager_body(f"noise-{tag}-{i}", service="web") for i in range(n)]
    codes = post_all(gw, bodies)
    assert codes == [202] * n, "the gateway refused part of the backlog"


def lag(gw: System) -> int:
    return sum(int(gw.redis.xlen(f"{gw.prefix}intake:{s}")) for s in ("SEV3", "SEV4"))


def run(gw: System, pagerduty: FakePagerDuty, slack: FakeSlack, args: argparse.Namespace) -> None:
    # The rules in a directory of their own: the gateway reloads them on any change under
    # the rules file's directory, and the harness's holds Redis's AOF and the process
    # logs (a reload every ~0.3 s while the backlog drains held each POST ~100 ms).
    own = gw.rules.parent / "rules"
    own.mkdir()
    (own / gw.rules.name).write_text(gw.rules.read_text())
    gw.env["ALERTGW_RULES"] = str(own)
    gw.start_gateway()
    worker = gw.start_worker(args.processes)
    # warm up: every routing key once per worker process
    warm = [alertmanager_body(f"warm-{i}", service=f"svc-{i % SERVICES}") for i in range(80)]
    post_all(gw, warm)
    wait_until(lambda: len(pagerduty.events(action="trigger")) >= 80, timeout=60)
    time.sleep(1.0)
    timed = pages(gw, pagerduty, args.pages, 0.05)
    idle = latencies(timed)
    print(f"idle: SEV1 received -> PagerDuty trigger ({len(idle)}): {ms(idle)} ({load()})")
    print(stages(gw, timed))

    gw.kill(worker)
    started = time.monotonic()
    backlog(gw, args.backlog)
    print(f"queued {args.backlog} SEV4 alerts in {time.monotonic() - started:.1f} s ({load()})")
    gw.start_worker(args.processes)
    if not wait_until(lambda: lag(gw) < args.backlog * 0.95, timeout=60, every=0.01):
        give_up(gw, "the workers did not start on the backlog")
    left = lag(gw)
    timed = pages(gw, pagerduty, args.pages, 0.25)
    behind = latencies(timed)
    print(
        f"behind the backlog (workers draining it; {left} SEV3/SEV4 entries waiting when the "
        f"first SEV1 arrived, {lag(gw)} after the last): {ms(behind)}"
    )
    print(stages(gw, timed))
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
