"""Ingest throughput and latency of one gateway process, against a bare Starlette baseline.

Run by hand from the repository root (not part of the test run; needs `wrk`):

    python bench/bench_ingest.py [--seconds 10] [--connections 64] [--rate 900]

Both apps run under uvicorn with the same options (httptools, uvloop, no access log,
one worker) and get the same 2.4 KB Alertmanager webhook (3 alerts):

- baseline: a Starlette endpoint that reads the body and `json.loads` it, nothing else;
- gateway: the full path (bearer auth, parse, normalize, classify against the shipped
  `rules/`, hand-off of every alert to its own redis-server, the 202 answer).

1. saturation: wrk at `--connections` connections; requests/s and the ratio to the
   baseline (goal >= 0.5x; below 0.3x is a failure);
2. paced: `--rate` requests/s for `--seconds` from our own client, latency from when
   each request was due (goal: gateway p99 <= 10 ms).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # bench/ is not a package: run as a script
    TOKEN,
    WRK_SCRIPTS,
    WrkResult,
    alertmanager_body,
    gateway_env,
    machine,
    paced_latencies,
    percentile,
    redis_server,
    run_wrk,
    uvicorn_server,
)

RATIO_GOAL, RATIO_FAILURE, P99_GOAL_MS = 0.5, 0.3, 10.0


async def _baseline(request: Request) -> JSONResponse:
    payload = json.loads(await request.body())
    return JSONResponse({"accepted": len(payload["alerts"])}, 202)


async def _ok(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


baseline_app = Starlette(
    routes=[
        Route("/webhooks/alertmanager", _baseline, methods=["POST"]),
        Route("/healthz", _ok),
    ]
)


def measure(url: str, body_file: Path, args: argparse.Namespace) -> tuple[WrkResult, list[float]]:
    target = f"{url}/webhooks/alertmanager"
    env = {"BODY_FILE": str(body_file), "TOKEN": TOKEN}
    script = WRK_SCRIPTS / "post.lua"
    run_wrk(target, script, env, connections=args.connections, seconds=2)  # warm up
    saturated = run_wrk(target, script, env, connections=args.connections, seconds=args.seconds)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    latencies, failures = paced_latencies(
        target, body_file.read_bytes(), headers, args.rate, args.seconds
    )
    if failures or saturated.non_2xx or saturated.errors:
        print(f"  !! failures: paced {failures}, wrk non-2xx {saturated.non_2xx}, "
              f"socket errors {saturated.errors}")  # fmt: skip
    return saturated, latencies


def report(name: str, result: WrkResult, latencies: list[float]) -> None:
    print(
        f"{name:9} {result.requests_per_second:9.0f} req/s (wrk p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms) | paced p50 {percentile(latencies, 0.5):.2f} ms, "
        f"p99 {percentile(latencies, 0.99):.2f} ms, max {max(latencies):.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=900.0)
    parser.add_argument("--only", choices=["baseline", "gateway"], help="measure one app")
    args = parser.parse_args()
    body = alertmanager_body()
    print(f"{machine()}; body {len(body)} bytes, 3 alerts; wrk -c {args.connections}, "
          f"{args.seconds} s; paced {args.rate:g} req/s")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        body_file = Path(folder) / "body.json"
        body_file.write_bytes(body)
        results: dict[str, tuple[WrkResult, list[float]]] = {}
        if args.only != "gateway":
            with uvicorn_server("bench_ingest:baseline_app", {}) as url:
                results["baseline"] = measure(url, body_file, args)
                report("baseline", *results["baseline"])
        if args.only != "baseline":
            with (
                redis_server(Path(folder)) as redis_url,
                uvicorn_server(
                    "gateway.app:app_from_env", gateway_env(redis_url), factory=True
                ) as url,
            ):
                results["gateway"] = measure(url, body_file, args)
                report("gateway", *results["gateway"])
    return verdict(results)


def verdict(results: dict[str, tuple[WrkResult, list[float]]]) -> int:
    if len(results) < 2:
        return 0
    ratio = results["gateway"][0].requests_per_second / results["baseline"][0].requests_per_second
    p99 = percentile(results["gateway"][1], 0.99)
    print(
        f"ratio gateway/baseline: {ratio:.2f}x (goal >= {RATIO_GOAL}x, failure < "
        f"{RATIO_FAILURE}x); gateway paced p99 {p99:.2f} ms (goal <= {P99_GOAL_MS:g} ms)"
    )
    return 0 if ratio >= RATIO_FAILURE and p99 <= P99_GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
