"""What the worker benchmarks share: a whole alertgw on a private Redis, vendors faked.

`running()` starts a private redis-server (AOF everysec, `common.redis_server`), the fake
PagerDuty and Slack, and yields the end-to-end harness of the tests (`tests.workers.e2e`)
with the given rules; the benchmark then starts gateways and workers. Latency is matched
per alert: the fake records when each event arrived, keyed by its dedup_key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, redis_server

from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import System, alertmanager_body, system

__all__ = ["System", "alertmanager_body"]


@contextlib.contextmanager
def running(rules: str) -> Iterator[tuple[System, FakePagerDuty, FakeSlack]]:
    """A private Redis, the vendor fakes and the harness, with `rules` in place."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp)) as url,
        FakePagerDuty() as pagerduty,
        FakeSlack() as slack,
        system(url, f"bench:{uuid.uuid4().hex[:6]}:", Path(tmp), pagerduty, slack) as gw,
    ):
        gw.rules.write_text(rules)
        gw.env["ALERTGW_LOG_LEVEL"] = "WARNING"
        yield gw, pagerduty, slack


def pd_rules(
    services: int, severity: str = "SEV2", chat_only_default: bool = False, chat: bool = False
) -> str:
    """`services` rules `svc-<i>`, each paging its own routing key (one step; with `chat`
    the step also posts to Slack)."""
    lines = ["version: 1", "targets:", "  chat: {slack: {channel: '#noise'}}"]
    lines += [f"  pd-{i}: {{pagerduty: {{routing_key: 'bench-rk-{i}'}}}}" for i in range(services)]
    lines += ["escalations:", "  chat-only:", "    steps:", "      - notify: [chat]"]
    for i in range(services):
        targets = f"pd-{i}, chat" if chat else f"pd-{i}"
        lines += [f"  path-{i}:", "    steps:", f"      - notify: [{targets}]"]
    lines += ["rules:"]
    for i in range(services):
        lines += [
            f"  - name: svc-{i}",
            f"    matchers: ['service=\"svc-{i}\"']",
            f"    severity: {severity}",
            f"    escalation: path-{i}",
        ]
    default = "chat-only" if chat_only_default else "path-0"
    lines += [f"default: {{severity: SEV4, escalation: {default}}}", ""]
    return "\n".join(lines)


def ms(values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"p50 {p50:.1f} ms  p99 {p99:.1f} ms"


def arrivals(pagerduty: FakePagerDuty, keys: set[str]) -> dict[str, float]:
    """When the fake accepted the first trigger of each dedup key in `keys`."""
    found: dict[str, float] = {}
    for r in pagerduty.requests:
        if r.path != "/v2/enqueue" or r.status != 202 or not isinstance(r.body, dict):
            continue
        key = r.body.get("dedup_key")
        if key in keys and key not in found:
            found[key] = r.at
    return found


def post_all(gw: System, bodies: list[dict[str, Any]], threads: int = 16) -> list[int]:
    """POST every body (round robin over the gateways); the status codes."""
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(threads) as pool:
        return list(
            pool.map(lambda nb: gw.post(nb[1], nb[0] % len(gw.gateways), client), enumerate(bodies))
        )


def rss_kib(pid: int) -> int:
    """Resident memory of one process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def family(pid: int) -> list[int]:
    """A process and all its descendants (worker processes spawn children)."""
    found = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for child in children:
            found += family(int(child))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def wait_until(check: Any, timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def blast(
    urls: list[str], body: bytes, token: str, total: int, connections: int = 64
) -> dict[int, int]:
    """POST `body` `total` times over `connections` keep-alive connections spread over
    `urls`, as fast as they answer; how many answers of each status (0: no answer).

    Raw HTTP/1.1 on asyncio: a Python HTTP client would spend more CPU than the gateway.
    """
    return asyncio.run(_blast(urls, body, token, total, connections))


async def _blast(
    urls: list[str], body: bytes, token: str, total: int, connections: int
) -> dict[int, int]:
    counts: dict[int, int] = {}
    remaining = [total]

    async def connection(url: str) -> None:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port or 80
        head = f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        head += f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                writer.write(request)
                try:
                    status = await _status(reader)
                except (OSError, asyncio.IncompleteReadError):
                    counts[0] = counts.get(0, 0) + 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                counts[status] = counts.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection(urls[n % len(urls)]) for n in range(connections)))
    return counts


async def _status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head.split(b" ", 2)[1])
