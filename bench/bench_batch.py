"""Batched alerts: alerts/s ingested by alertgw vs Prometheus Alertmanager, same alerts.

Run by hand from the repository root (not part of the test run; needs `wrk` and the
Debian package `prometheus-alertmanager`):

    python bench/bench_batch.py [--seconds 10] [--connections 64] [--batch 100]

Every request carries `--batch` new alerts (unique label sets, so neither side can
merge them with earlier ones):

- alertgw: an Alertmanager webhook of `--batch` alerts to `/webhooks/alertmanager`
  (`--workers` uvicorn workers, default 1; its own redis-server, the shipped rules/);
- Alertmanager: the same alerts to its own `POST /api/v2/alerts`, on loopback with a
  minimal configuration (one null receiver) and its own storage directory.

Goal: alertgw ingests more alerts/s than Alertmanager.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # bench/ is not a package: run as a script
    AM_FIXTURE,
    TOKEN,
    WRK_SCRIPTS,
    free_port,
    gateway_env,
    machine,
    redis_server,
    run_wrk,
    uvicorn_server,
    wait_until_up,
)

ALERTMANAGER_CONFIG = """\
route: {receiver: "null", group_by: [alertname]}
receivers: [{name: "null"}]
"""


def alerts(batch: int) -> list[dict[str, object]]:
    """`batch` alerts of the checkout fixture; "@R@" makes each request's labels unique."""
    template = json.loads(AM_FIXTURE.read_bytes())["alerts"][0]
    return [
        {**template,
         "labels": {**template["labels"], "instance": f"10.{i // 250}.{i % 250}.1:@R@"},
         "fingerprint": f"@R@f{i:04x}"}
        for i in range(batch)
    ]  # fmt: skip


def webhook_template(batch: int) -> str:
    webhook = json.loads(AM_FIXTURE.read_bytes())
    webhook["alerts"] = alerts(batch)
    return json.dumps(webhook, separators=(",", ":"))


def api_template(batch: int) -> str:
    keep = ("labels", "annotations", "startsAt", "generatorURL")
    return json.dumps([{k: a[k] for k in keep} for a in alerts(batch)], separators=(",", ":"))


@contextmanager
def alertmanager(folder: Path) -> Iterator[str]:
    config = folder / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    process = subprocess.Popen(
        ["prometheus-alertmanager", f"--config.file={config}",
         f"--storage.path={folder / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address=", "--log.level=warn"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/-/ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def measure(name: str, url: str, template: Path, args: argparse.Namespace) -> float:
    env = {"BODY_FILE": str(template), "TOKEN": TOKEN}
    script = WRK_SCRIPTS / "unique.lua"
    run_wrk(url, script, env, connections=args.connections, seconds=2)  # warm up
    result = run_wrk(url, script, env, connections=args.connections, seconds=args.seconds)
    rate: float = result.requests_per_second * args.batch
    print(f"{name:13} {result.requests_per_second:8.0f} req/s x {args.batch} = {rate:9.0f} "
          f"alerts/s (p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
          f"non-2xx {result.non_2xx}, socket errors {result.errors})")  # fmt: skip
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="alertgw's uvicorn workers (Alertmanager uses every core)",
    )
    args = parser.parse_args()
    print(f"{machine()}; {args.batch} alerts per request; wrk -c {args.connections}, "
          f"{args.seconds} s; alertgw with {args.workers} uvicorn worker(s)")  # fmt: skip
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "webhook.json").write_text(webhook_template(args.batch))
        (folder / "api.json").write_text(api_template(args.batch))
        with alertmanager(folder) as url:
            theirs = measure("alertmanager", f"{url}/api/v2/alerts", folder / "api.json", args)
        with (
            redis_server(folder) as redis_url,
            uvicorn_server("gateway.app:app_from_env", gateway_env(redis_url), factory=True,
                           workers=args.workers) as url,
        ):  # fmt: skip
            ours = measure("alertgw", f"{url}/webhooks/alertmanager", folder / "webhook.json", args)
    print(f"ratio alertgw/alertmanager: {ours / theirs:.2f}x (goal > 1x)")
    return 0 if ours > theirs else 1


if __name__ == "__main__":
    sys.exit(main())
