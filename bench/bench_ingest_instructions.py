"""Ingest cost in CPU instructions: the gateway app against the bare baseline, in-process.

Run by hand from the repository root (not part of the test run; needs `valgrind`):

    python bench/bench_ingest_instructions.py [--requests 800]

The wrk figures of bench_ingest.py move with whatever else the machine runs. This one
does not: valgrind's callgrind counts the instructions a process executes, the same
count for the same work however busy the machine is. Each app (the baseline endpoint
of bench_ingest.py, and the gateway as `uvicorn --factory gateway.app:app_from_env`
builds it, with its own redis-server) is called directly as an ASGI app, 32 requests
at a time, with the same 2.4 KB Alertmanager webhook. Each runs twice, with 160 and
160 + `--requests` requests; the difference divided by `--requests` is the cost of
one request without start-up. uvicorn's own share (the same for both) is not counted,
so this ratio is lower than the requests/s ratio of bench_ingest.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # bench/ is not a package: run as a script
    TOKEN,
    alertmanager_body,
    gateway_env,
    machine,
    redis_server,
)

WARM_UP = 160  # requests in both runs: imports, start-up and first-call caches cancel out
CONCURRENCY = 32

Message = MutableMapping[str, Any]


async def call(app: Callable[..., Awaitable[None]], body: bytes) -> None:
    """One POST /webhooks/alertmanager straight into the ASGI app; it must answer 202."""
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/alertmanager",
        "raw_path": b"/webhooks/alertmanager",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    statuses: list[int] = []

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # no disconnect while the request is handled
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [202]:
        raise SystemExit(f"the app answered {statuses}, not 202")


async def child(which: str, requests: int) -> None:
    """The process valgrind measures: build the app, then send `requests` requests."""
    if which == "gateway":
        from gateway.app import app_from_env

        app: Any = app_from_env()
    else:
        from bench_ingest import baseline_app

        app = baseline_app
    body = alertmanager_body()

    async def client(count: int) -> None:
        for _ in range(count):
            await call(app, body)

    async with app.router.lifespan_context(app):
        await asyncio.gather(*(client(requests // CONCURRENCY) for _ in range(CONCURRENCY)))


def instructions(which: str, requests: int, env: dict[str, str]) -> int:
    """Instructions callgrind counted for a whole child run."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        which,
        "--requests",
        str(requests),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{which}: valgrind failed\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(which: str, requests: int, env: dict[str, str]) -> float:
    base = instructions(which, WARM_UP, env)
    more = instructions(which, WARM_UP + requests, env)
    return (more - base) / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800, help="a multiple of 32")
    parser.add_argument("--child", choices=["baseline", "gateway"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests % CONCURRENCY:
        parser.error(f"--requests must be a multiple of {CONCURRENCY}")
    if args.child:
        import uvloop

        uvloop.run(child(args.child, args.requests))
        return 0
    print(f"{machine()}; valgrind callgrind; {args.requests} requests after {WARM_UP}")
    with tempfile.TemporaryDirectory() as folder, redis_server(Path(folder)) as redis_url:
        env = {**os.environ, **gateway_env(redis_url)}
        baseline = per_request("baseline", args.requests, env)
        print(f"baseline  {baseline:12,.0f} instructions per request")
        gateway = per_request("gateway", args.requests, env)
        print(f"gateway   {gateway:12,.0f} instructions per request")
    print(f"ratio baseline/gateway: {baseline / gateway:.2f}x (in-app only: uvicorn not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
