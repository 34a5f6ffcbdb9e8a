"""Dedupe storm: thousands of copies of one alert at once page exactly once.

Run by hand from the repository root (not part of the test run):

    python bench/bench_storm.py [--runs 20] [--copies 10000] [--connections 64]

A private Redis, two gateways (`alertgw serve` twice), `alertgw worker --processes 4`,
the fake vendors. Each run posts `--copies` copies of one new alert (its own incident)
over `--connections` keep-alive connections spread over both gateways, waits until every
copy has joined the incident, then one second more, and counts what the incident sent:
the goal is exactly one PagerDuty trigger and one Slack root message, in every run.

Figures: copies per second the gateways accepted (the baseline, same run) and copies per
second the workers folded into the incident; their ratio says whether deduplication keeps
up with intake.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workers_common import (  # bench/ is not a package: run as a script
    System,
    alertmanager_body,
    blast,
    load,
    running,
    wait_until,
)

from core.incidents.store import IncidentStore
from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import TOKEN

RULES = """
version: 1
targets:
  oncall: {pagerduty: {routing_key: "bench-storm"}}
  incidents: {slack: {channel: "#incidents"}}
escalations:
  page:
    steps:
      - notify: [oncall, incidents]
        wait: 1h
      - notify: [oncall]
rules:
  - name: storm
    matchers: ['alertname="HighErrorRate"']
    severity: SEV1
    escalation: page
    group_by: [service]
default: {severity: SEV4, escalation: page}
"""


def one_run(
    gw: System, pagerduty: FakePagerDuty, slack: FakeSlack, n: int, copies: int, conns: int
) -> tuple[bool, float, float, int, int]:
    service = f"storm-{n}"
    key = f"storm:service={service}"
    body = json.dumps(alertmanager_body(f"copy-{n}", service=service)).encode()
    urls = [f"{url}/webhooks/alertmanager" for url in gw.gateways]
    store = IncidentStore(gw.redis, gw.prefix, timedelta(hours=1))
    started = time.monotonic()
    counts = blast(urls, body, TOKEN, copies, conns)
    accepted_in = time.monotonic() - started
    ok = counts == {202: copies}
    folded = wait_until(
        lambda: (i := store.get(key)) is not None and i.alert_count >= copies, timeout=300
    )
    applied_in = time.monotonic() - started
    time.sleep(1.0)  # time for a second page, if one were coming
    triggers = len(pagerduty.events(action="trigger", dedup_key=key))
    roots = [m for m in slack.roots() if key in json.dumps(m)]
    ok = ok and folded and triggers == 1 and len(roots) == 1
    return ok, copies / accepted_in, copies / applied_in, triggers, len(roots)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--copies", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--processes", type=int, default=4, help="worker processes")
    args = parser.parse_args()
    with running(RULES) as (gw, pagerduty, slack):
        gw.start_gateway()
        gw.start_gateway()
        gw.start_worker(args.processes)
        passed = 0
        for n in range(args.runs):
            ok, accepted, applied, triggers, roots = one_run(
                gw, pagerduty, slack, n, args.copies, args.connections
            )
            passed += ok
            print(
                f"run {n + 1}: {'ok ' if ok else 'FAIL'} {triggers} trigger(s), {roots} Slack "
                f"root(s); gateways took {accepted:.0f} copies/s, workers folded "
                f"{applied:.0f}/s ({applied / accepted:.2f}x)",
                flush=True,
            )
        print(f"{passed} of {args.runs} runs paged exactly once ({load()})")
        return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
