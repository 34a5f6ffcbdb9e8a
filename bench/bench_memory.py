"""Redis memory: bytes per open incident and per dedupe key, at 100,000 of each.

Run by hand from the repository root (not part of the test run):

    python bench/bench_memory.py [--n 100000]

A private redis-server (AOF everysec, `common.redis_server`). Three kinds of state are
created `--n` times and measured as the growth of Redis's `used_memory`, per item:

* an open incident: what applying one firing alert (8 labels, like an Alertmanager
  alert) writes - the record hash, its alerts hash, timeline, and its index entries
  (the outbox entry is consumed by the dispatcher, so it is trimmed before measuring);
* a gateway dedupe key: the "delivery id seen" marker a redelivery is refused by
  (`delivery:<source>:<id>`, 3-day TTL);
* a worker dedupe key: the "sent" marker a notification is sent at most once by
  (`sent:<hash>`, TTL of the dedupe window + 1 day).

Baseline, same run: a bare `SET k:<n> 1` (the least a key costs in this Redis).
Goal (issue 7): <= 200 B per dedupe key.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import redis_server  # bench/ is not a package: run as a script

from core.handoff import DELIVERY_ID_TTL_SECONDS, HandoffEntry, delivery_key, stream_key
from core.incidents.store import IncidentStore
from core.models import Alert
from core.rules.model import Classification
from workers.delivery.send import Delivery, marker_key

GROUP = "bench"
CHUNK = 2000


def alert_entry(n: int) -> HandoffEntry:
    now = datetime.now(UTC)
    labels = {
        "alertname": "HighErrorRate",
        "service": f"svc-{n % 50}",
        "env": "production",
        "instance": f"10.0.{n // 250 % 250}.{n % 250}:8080",
        "job": "api",
        "severity": "critical",
        "team": "payments",
        "region": "eu-west-1",
    }
    alert = Alert(
        source="alertmanager",
        fingerprint=f"am:{n:016x}",
        status="firing",
        title="HighErrorRate",
        summary="5xx ratio above 5% for 10m",
        service=labels["service"],
        environment="production",
        level="critical",
        labels=labels,
        starts_at=now,
        received_at=now,
    )
    rule = Classification(
        severity="SEV2", rule="api-errors", escalation="standard", incident_key=f"inc-{n}"
    )
    return HandoffEntry(alert=alert, classification=rule)


def used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def per_item(client: redis.Redis, n: int, make: Callable[[int, int], None]) -> float:
    before = used(client)
    for start in range(0, n, CHUNK):
        make(start, min(n, start + CHUNK))
    return (used(client) - before) / n


def bare_keys(client: redis.Redis) -> Callable[[int, int], None]:
    def make(start: int, end: int) -> None:
        with client.pipeline(transaction=False) as pipe:
            for n in range(start, end):
                pipe.set(f"k:{n}", "1")
            pipe.execute()

    return make


def delivery_ids(client: redis.Redis) -> Callable[[int, int], None]:
    def make(start: int, end: int) -> None:
        with client.pipeline(transaction=False) as pipe:
            for n in range(start, end):
                key = delivery_key("bench:", "sentry", f"{n:08x}-2f4c-4b9e-9d1a-7c3e5b2a1f0d")
                pipe.set(key, "1", nx=True, ex=DELIVERY_ID_TTL_SECONDS)
            pipe.execute()

    return make


def sent_markers(client: redis.Redis) -> Callable[[int, int], None]:
    def make(start: int, end: int) -> None:
        with client.pipeline(transaction=False) as pipe:
            for n in range(start, end):
                delivery = Delivery("oncall", "trigger")
                key = marker_key("bench:", f"inc-{n}", f"{n}-0:step:0", delivery)
                pipe.set(key, "sent", ex=3600 + 86400)
            pipe.execute()

    return make


def incidents(client: redis.Redis) -> Callable[[int, int], None]:
    store = IncidentStore(client, "bench:", timedelta(hours=1))
    streams = {stream_key("bench:", "SEV2"): ">"}
    client.xgroup_create(stream_key("bench:", "SEV2"), GROUP, id="0", mkstream=True)

    def make(start: int, end: int) -> None:
        with client.pipeline(transaction=False) as pipe:
            for n in range(start, end):
                pipe.xadd(stream_key("bench:", "SEV2"), {"e": alert_entry(n).model_dump_json()})
            pipe.execute()
        reply = client.xreadgroup(GROUP, "bench", streams, count=end - start)
        for entry_id, fields in reply[0][1]:
            entry = HandoffEntry.model_validate_json(fields[b"e"])
            stream = stream_key("bench:", "SEV2")
            applied = store.apply(entry, stream, GROUP, entry_id.decode(), now())
            assert applied.outcome == "opened", applied
        client.xtrim(store.changes_key, maxlen=0)  # the dispatcher consumes the outbox

    return make


def now() -> datetime:
    return datetime.now(UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument(
        "--ziplist-value",
        type=int,
        default=None,
        help="set Redis's hash-max-ziplist-value first (default 64: an incident record "
        "with a longer field, like its labels, is a hash table, not a compact list)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as url:
        client = redis.Redis.from_url(url)
        if args.ziplist_value is not None:
            client.config_set("hash-max-ziplist-value", args.ziplist_value)  # alias in 7+
        bare = per_item(client, args.n, bare_keys(client))
        print(f"baseline, a bare SET k:<n> 1: {bare:.0f} B per key")
        for name, make in (
            ("gateway dedupe key (delivery id seen)", delivery_ids(client)),
            ("worker dedupe key (notification sent)", sent_markers(client)),
        ):
            size = per_item(client, args.n, make)
            verdict = "met" if size <= 200 else "NOT met"
            print(f"{name}: {size:.0f} B per key ({size / bare:.2f}x); goal <= 200 B: {verdict}")
        size = per_item(client, args.n, incidents(client))
        print(f"open incident (1 alert, 8 labels): {size:.0f} B each ({size / bare:.1f}x)")
        sample = IncidentStore(client, "bench:", timedelta(hours=1))
        parts = {part: sample.key_of("inc-0", part) for part in ("", "alerts", "timeline")}
        sizes = {part or "record": client.memory_usage(key) for part, key in parts.items()}
        print("  of which, for one incident:", ", ".join(f"{k} {v} B" for k, v in sizes.items()))
        print(f"  ({args.n} of each; used_memory {used(client) / 2**20:.0f} MiB in all)")
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
