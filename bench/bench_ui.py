"""The console's incident board with 1,000 open incidents (run by hand, not in tests).

    python bench/bench_ui.py [--incidents 1000] [--rounds 30]

A private Redis holds `--incidents` open incidents of mixed severities, services and
steps. The gateway app (`gateway.app.create_app`, the shipped rules) answers in process
through Starlette's TestClient, so the time is the server's part: reading the incidents
from Redis, ordering, filtering and rendering. The baseline, timed in the same run and
the same way, is `GET /api/v1/incidents`: the same read, serialized as JSON. The ratio
says what the HTML costs over the API; the board's budget is 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from common import ROOT, redis_server  # bench/ is not a package: run as a script
from starlette.testclient import TestClient

from core.handoff import HandoffEntry, stream_key
from core.incidents.store import IncidentStore
from core.models import SEVERITIES, Alert
from core.rules.model import Classification
from core.settings import Settings
from gateway.app import create_app

PREFIX = "bench-ui:"
GROUP = "bench"
TOKEN = "bench-ui-token"  # noqa: S105 (a throwaway token of a throwaway gateway)
BUDGET_MS = 200.0


def alert_entry(n: int, at: datetime) -> HandoffEntry:
    severity = SEVERITIES[n % 4]
    service = f"svc-{n % 37}"
    firing = Alert(
        source=("alertmanager", "sentry", "datadog", "vercel")[n % 4],
        fingerprint=f"am:{n}",
        status="firing",
        title=f"High error rate on {service} ({n})",
        summary="5xx above 5% for 10 minutes",
        service=service,
        environment="production",
        level="critical",
        labels={"alertname": "HighErrorRate", "service": service, "team": f"team-{n % 9}"},
        starts_at=at,
        received_at=at,
    )
    decided = Classification(
        severity=severity, rule="bench", escalation="standard", incident_key=f"bench:{n}"
    )
    return HandoffEntry(alert=firing, classification=decided)


def fill(client: redis.Redis, count: int, now: datetime) -> None:
    store = IncidentStore(client, PREFIX, timedelta(days=1))
    streams = {}
    for severity in SEVERITIES:
        stream = stream_key(PREFIX, severity)
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        streams[stream] = ">"
    with client.pipeline(transaction=False) as pipe:
        for n in range(count):
            at = now - timedelta(seconds=count - n)
            entry = alert_entry(n, at)
            pipe.xadd(
                stream_key(PREFIX, entry.classification.severity), {"e": entry.model_dump_json()}
            )
        pipe.execute()
    for stream, entries in client.xreadgroup(GROUP, "bench", streams, count=count):
        for entry_id, fields in entries:
            entry = HandoffEntry.model_validate_json(fields[b"e"])
            applied = store.apply(entry, stream.decode(), GROUP, entry_id.decode(), now)
            assert applied.outcome == "opened", applied
    client.xtrim(store.changes_key, maxlen=0)


def timed(http: TestClient, url: str, rounds: int) -> list[float]:
    headers = {"authorization": f"Bearer {TOKEN}"}
    answer = http.get(url, headers=headers)
    assert answer.status_code == 200, answer.text[:200]
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        answer = http.get(url, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder, redis_server(Path(folder)) as url:
        client = redis.Redis.from_url(url)
        fill(client, args.incidents, now)
        settings = Settings(
            redis_url=url, redis_prefix=PREFIX, api_token=TOKEN, rules=ROOT / "rules"
        )  # type: ignore[arg-type]
        with TestClient(create_app(settings)) as http:
            board = timed(http, "/ui/", args.rounds)
            api = timed(http, "/api/v1/incidents", args.rounds)
            filtered = timed(http, "/ui/?severity=SEV1&q=svc-3", args.rounds)
            page = http.get("/ui/", headers={"authorization": f"Bearer {TOKEN}"}).text
        client.close()
    rows = page.count('<tr class="row ')
    assert rows == args.incidents, rows
    b, a, f = (statistics.median(s) for s in (board, api, filtered))
    print(f"{args.incidents} open incidents, {args.rounds} rounds each, median (p90):")
    size = f"{rows} rows, {len(page) // 1024} KiB"
    print(f"  GET /ui/                 {b:7.1f} ms ({_p90(board):.1f})  {size}")
    print(f"  GET /ui/?severity=SEV1.. {f:7.1f} ms ({_p90(filtered):.1f})")
    print(f"  GET /api/v1/incidents    {a:7.1f} ms ({_p90(api):.1f})  baseline")
    verdict = "met" if b < BUDGET_MS else "MISSED"
    print(f"  board / API: {b / a:.2f}x; budget {BUDGET_MS:.0f} ms: {verdict}")
    return 0 if b < BUDGET_MS else 1


def _p90(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.9) - 1]


if __name__ == "__main__":
    sys.exit(main())
