"""The plan's "Log Flood Injection" drill as a benchmark: SEV1 pages inside a flood.

Run by hand from the repository root (not part of the test run):

    python bench/bench_flood.py [--alerts 10000] [--seconds 10] [--sev1 5]

A private Redis, one gateway (`alertgw serve`), two worker processes (`alertgw worker
--processes 2`), the fake PagerDuty enforcing 120 events a minute per routing key with 429
(as PagerDuty does) and the fake Slack. The rules page 3 routing keys (one per team, each
with its own Slack channel) and fold storms (`storm: {threshold: 10, window: 1m}`).

1. Baseline, no flood: `--sev1` SEV1 alerts, one every 0.2 s; each one's time from its
   POST to its PagerDuty trigger.
2. The flood: `--alerts` distinct SEV2 alerts in `--seconds` s across 20 services and the
   3 teams (Alertmanager groups of 10 alerts a POST, paced evenly), and the same number of
   SEV1 alerts posted from another process in the middle of it.

Printed: each SEV1's POST -> page time in the flood and without it (goal p99 <= 2 s and
<= 2x the baseline), pages and Slack messages per target while the storm lasts (goal:
threshold + a few), alerts accepted versus alerts found in incidents (goal: equal), and
the gateway's 202 rate and POST p99 during the flood.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile
from workers_common import System, load, ms, running, wait_until

from core.incidents.store import IncidentStore
from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import TOKEN

TEAMS = 3
SERVICES = 20
GROUP = 10  # alerts a POST, as Alertmanager groups them
THRESHOLD = 10
LIMIT = 120  # PagerDuty's events a minute per routing key


def rules() -> str:
    lines = ["version: 1", "targets:"]
    for t in range(TEAMS):
        lines.append(f"  pd-{t}: {{pagerduty: {{routing_key: 'bench-flood-{t}'}}}}")
        lines.append(f"  chat-{t}: {{slack: {{channel: '#team-{t}'}}}}")
    lines.append("escalations:")
    for t in range(TEAMS):
        lines += [f"  team-{t}:", "    steps:", f"      - notify: [pd-{t}, chat-{t}]"]
    lines.append("rules:")
    for t in range(TEAMS):
        lines += [
            f"  - name: down-{t}",
            f"    matchers: ['team=\"team-{t}\"', 'severity=\"critical\"']",
            "    severity: SEV1",
            f"    escalation: team-{t}",
            f"  - name: errors-{t}",
            f"    matchers: ['team=\"team-{t}\"']",
            "    severity: SEV2",
            f"    escalation: team-{t}",
        ]
    lines += [
        "default: {severity: SEV4, escalation: team-0}",
        f"storm: {{defaults: {{threshold: {THRESHOLD}, window: 1m, cooldown: 5m}}}}",
        "",
    ]
    return "\n".join(lines)


def alert(fingerprint: str, service: int, critical: bool = False) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    labels = {
        "alertname": "Down" if critical else "LogErrors",
        "service": f"svc-{service}",
        "team": f"team-{service % TEAMS}",
        "severity": "critical" if critical else "warning",
    }
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": "error log lines above 100/s"},
        "startsAt": now,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def body(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "alertgw", "alerts": alerts}


def post_sev1s(url: str, count: int, every: float, delay: float) -> dict[str, float]:
    """After `delay` s, POST `count` SEV1 alerts, one per `every` s; when each POST started.

    In a process of its own: this one's threads post the flood and serve the fakes."""
    time.sleep(delay)
    sent: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=30) as client:
        for i in range(count):
            fingerprint, service = f"sev1-{uuid.uuid4().hex[:10]}", i % SERVICES
            sent[f"down-{service % TEAMS}:am:{fingerprint}"] = time.time()
            answer = client.post(
                url, json=body([alert(fingerprint, service, True)]), headers=headers
            )
            assert answer.status_code == 202, answer.text
            time.sleep(every)
    return sent


def paged_at(pagerduty: FakePagerDuty, keys: set[str]) -> dict[str, float]:
    """When PagerDuty accepted the first trigger of each dedup key (wall clock)."""
    found: dict[str, float] = {}
    for r in pagerduty.requests:
        if r.path == "/v2/enqueue" and r.status == 202 and isinstance(r.body, dict):
            key = r.body.get("dedup_key")
            if key in keys and key not in found:
                found[key] = r.at
    return found


def sev1_latencies(gw: System, pagerduty: FakePagerDuty, sent: dict[str, float]) -> list[float]:
    if not wait_until(lambda: len(paged_at(pagerduty, set(sent))) == len(sent), timeout=180):
        missing = len(sent) - len(paged_at(pagerduty, set(sent)))
        raise SystemExit(f"{missing} SEV1 alerts were never paged")
    got = paged_at(pagerduty, set(sent))
    return [got[key] - posted for key, posted in sent.items()]


def flood(gw: System, alerts: int, seconds: float) -> tuple[int, list[float], Counter[int]]:
    """POST `alerts` distinct SEV2 alerts in groups of GROUP, evenly over `seconds`; how
    many alerts were accepted, each POST's latency, and the answers' statuses."""
    url = f"{gw.gateways[0]}/webhooks/alertmanager"
    tag = uuid.uuid4().hex[:6]
    posts = [
        body([alert(f"flood-{tag}-{n}", n % SERVICES) for n in range(i, min(i + GROUP, alerts))])
        for i in range(0, alerts, GROUP)
    ]
    start = time.monotonic() + 0.5
    every = seconds / len(posts)
    statuses: Counter[int] = Counter()
    took: list[float] = []
    accepted = [0]
    lock = threading.Lock()
    local = threading.local()

    def one(index: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
        wait = start + index * every - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        began = time.monotonic()
        status = client.post(url, json=posts[index], headers={"Authorization": f"Bearer {TOKEN}"})
        with lock:
            took.append(time.monotonic() - began)
            statuses[status.status_code] += 1
            if status.status_code == 202:
                accepted[0] += len(posts[index]["alerts"])

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(len(posts))))
    return accepted[0], took, statuses


def in_incidents(gw: System) -> int:
    """Alerts the incidents hold: every firing alert of every incident, storms left out."""
    store = IncidentStore(gw.redis, gw.prefix, timedelta(hours=1))
    keys = [k.decode() for k in gw.redis.zrange(store.index_key, 0, -1)]
    with gw.redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hlen(store.key_of(key, "alerts"))
        return sum(pipe.execute())


def lag(gw: System) -> int:
    return sum(int(gw.redis.xlen(f"{gw.prefix}intake:SEV{n}")) for n in range(1, 5))


def run(gw: System, pagerduty: FakePagerDuty, slack: FakeSlack, args: argparse.Namespace) -> None:
    gw.env["ALERTGW_PAGERDUTY_LIMIT_PER_MINUTE"] = str(LIMIT)
    gw.start_gateway()
    gw.start_worker(2)
    url = f"{gw.gateways[0]}/webhooks/alertmanager"
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as poster:
        # warm-up: every routing key and channel once per worker process; a cold first
        # step can take over 1 s, which routes new incidents through jobs for a minute
        # (workers.changes.INLINE_PAUSE): the baseline starts after that minute
        warm = poster.submit(post_sev1s, url, 4 * TEAMS, 0.05, 0.0).result()
        sev1_latencies(gw, pagerduty, warm)
        time.sleep(65)
        sent = poster.submit(post_sev1s, url, args.sev1, 0.2, 0.0).result()
        baseline = sev1_latencies(gw, pagerduty, sent)
        print(f"no flood: SEV1 POST -> PagerDuty trigger ({len(baseline)}): {ms(baseline)}")
        time.sleep(3)  # the baseline's Slack messages
        before = {r.body["dedup_key"] for r in pagerduty.requests if isinstance(r.body, dict)}
        slack_before = len(slack.messages())
        started = time.time()
        sev1s = poster.submit(post_sev1s, url, args.sev1, 0.2, args.seconds / 2)
        accepted, took, statuses = flood(gw, args.alerts, args.seconds)
        flood_took = time.time() - started
        sent = sev1s.result()
    during = sev1_latencies(gw, pagerduty, sent)
    print(f"flood:    SEV1 POST -> PagerDuty trigger ({len(during)}): {ms(during)} ({load()})")
    base99, flood99 = percentile(baseline, 0.99), percentile(during, 0.99)
    verdict = "met" if flood99 <= 2.0 and flood99 <= 2 * base99 else "NOT met"
    print(f"  ratio to no flood: p99 {flood99 / base99:.2f}x; goal p99 <= 2 s and <= 2x: {verdict}")
    total = sum(statuses.values())
    print(
        f"gateway: {statuses[202]} of {total} POSTs answered 202 "
        f"({statuses[202] / total:.1%}; others: {dict(statuses - Counter({202: statuses[202]}))}),"
        f" {accepted} alerts in {flood_took:.1f} s; POST {ms(took)}"
    )
    wanted = accepted + args.sev1 * 2 + 4 * TEAMS
    wait_until(lambda: lag(gw) == 0 and in_incidents(gw) >= wanted, timeout=300, every=0.5)
    held = in_incidents(gw)
    print(
        f"alerts accepted {wanted} (flood {accepted} + SEV1s {wanted - accepted}), "
        f"found in incidents {held}: {'equal' if held == wanted else 'NOT equal'}"
    )
    time.sleep(15)  # the storms' Slack edits and any page still on its way
    triggers = Counter(
        r.body["routing_key"]
        for r in pagerduty.requests
        if r.status == 202
        and isinstance(r.body, dict)
        and r.body.get("event_action") == "trigger"
        and r.body.get("dedup_key") not in before
    )
    throttled = sum(1 for r in pagerduty.requests if r.status == 429)
    roots = Counter(m["channel"] for m in slack.messages()[slack_before:] if "thread_ts" not in m)
    edits = Counter(u["channel"] for u in slack.updates())
    per_team = args.sev1 // TEAMS + 1
    print(f"while the storm lasts (goal: {THRESHOLD} + 1 storm + SEV1s, about {per_team}/team):")
    for t in range(TEAMS):
        channel_id = FakeSlack.channel_id(f"#team-{t}")
        print(
            f"  pd-{t}: {triggers[f'bench-flood-{t}']} PagerDuty triggers;"
            f" chat-{t}: {roots[f'#team-{t}']} Slack messages, {edits[channel_id]} edits"
        )
    print(f"  429 from PagerDuty: {throttled}")
    store = IncidentStore(gw.redis, gw.prefix, timedelta(hours=1))
    for t in range(TEAMS):
        storm = store.get(f"storm:pd-{t}")
        if storm is not None:
            print(f"  {storm.title}; {storm.summary}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="distinct SEV2 alerts")
    parser.add_argument("--seconds", type=float, default=10.0, help="over this long")
    parser.add_argument("--sev1", type=int, default=5, help="SEV1 alerts in each phase")
    args = parser.parse_args()
    with running(rules()) as (gw, pagerduty, slack):
        pagerduty.limit_per_minute = LIMIT
        run(gw, pagerduty, slack, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
