"""`alertgw up`: the whole of alertgw on one machine, stopped cleanly by Ctrl-C.

It runs a gateway and a worker as child processes (the same `alertgw serve` and
`alertgw worker` a deployment runs), with an embedded Redis unless ALERTGW_REDIS_URL is
set, and supervises them: if one dies, everything stops, rather than half a pipeline
accepting alerts that nobody delivers.

Ctrl-C (or SIGTERM, SIGHUP) stops the children with SIGTERM, then the embedded Redis,
last, once nothing uses it. The children run in sessions of their own, so the
terminal's Ctrl-C reaches `up` alone and each child is told once; a second Ctrl-C kills
them at once, as uvicorn does.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from core.rules import RulesError, load_policy
from core.rules.model import Policy
from core.settings import Settings
from workers.runtime.stopping import FORCED_EXIT_STATUS, STOP_DEADLINE_SECONDS, kill_descendants

STATE_DIR = Path(".alertgw")
# The worker forces its own exit at STOP_DEADLINE_SECONDS; this is the backstop for a
# child that cannot even do that.
STOP_TIMEOUT_SECONDS = STOP_DEADLINE_SECONDS + 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("up", help="gateway + worker + embedded Redis on this machine")
    parser.add_argument("--host", help="address to listen on (default: ALERTGW_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: ALERTGW_PORT, 8080)")
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        policy = load_policy(settings.rules)
    except RulesError as error:
        print(f"alertgw up: the rules are invalid:\n{error}", file=sys.stderr)
        return 1
    host, port = args.host or settings.host, args.port or settings.port
    env = dict(os.environ, ALERTGW_HOST=host, ALERTGW_PORT=str(port))
    notes = _unsigned(env, host, settings) + _delivery(env, policy, settings)
    with _redis(env) as redis_note:
        children = _start(env, host, port, args.processes)
        _banner(host, port, [redis_note, *notes])
        return _supervise(children)


def _unsigned(env: dict[str, str], host: str, settings: Settings) -> list[str]:
    if settings.allow_unsigned:
        return ["unsigned webhooks are accepted (ALERTGW_ALLOW_UNSIGNED=true)"]
    if _is_loopback(host):
        env["ALERTGW_ALLOW_UNSIGNED"] = "true"
        return ["listening on loopback only, so unsigned webhooks are accepted for trying it out"]
    return ["sources without a configured secret refuse requests (401)"]


def _delivery(env: dict[str, str], policy: Policy, settings: Settings) -> list[str]:
    if "ALERTGW_DELIVERY" in os.environ:
        return [f"delivery: {settings.delivery} (ALERTGW_DELIVERY)"]
    configured = any(t.configured for t in policy.targets.values() if t.pagerduty) or bool(
        settings.slack_bot_token
    )
    if configured:
        env["ALERTGW_DELIVERY"] = "live"
        return ["delivery: live (vendor credentials are configured)"]
    env["ALERTGW_DELIVERY"] = "dry-run"
    return [
        "delivery: dry-run: nothing is sent; each notification is logged and kept in the timeline"
    ]


@contextlib.contextmanager
def _redis(env: dict[str, str]) -> Iterator[str]:
    if "ALERTGW_REDIS_URL" in os.environ:
        yield "Redis: ALERTGW_REDIS_URL"
        return
    from alertgw.embedded_redis import embedded_redis

    with embedded_redis(STATE_DIR.resolve()) as url:
        env["ALERTGW_REDIS_URL"] = url
        yield f"Redis: embedded, data in {STATE_DIR}/"


Children = dict[str, subprocess.Popen[bytes]]


def _start(env: dict[str, str], host: str, port: int, processes: int) -> Children:
    command = [sys.executable, "-m", "alertgw.cli"]
    serve = [*command, "serve", "--host", host, "--port", str(port)]
    worker = [*command, "worker", "--processes", str(processes)]
    # sessions of their own: Ctrl-C in the terminal reaches `up` alone, which tells each
    # child once (a child that also got the terminal's copy would take ours as a second)
    return {
        "gateway": subprocess.Popen(serve, env=env, start_new_session=True),
        "worker": subprocess.Popen(worker, env=env, start_new_session=True),
    }


def _banner(host: str, port: int, notes: list[str]) -> None:
    url = f"http://{host}:{port}"
    lines = [f"alertgw is up: {url}  (Ctrl-C stops everything)", *(f"  - {n}" for n in notes)]
    lines.append(f"  try: curl -s {url}/readyz")
    print("\n".join(lines), file=sys.stderr, flush=True)


def _supervise(children: Children) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if stopping:  # the second Ctrl-C: everything ends now
            print("alertgw up: stopping at once", file=sys.stderr, flush=True)
            _kill(list(children.values()))
            raise SystemExit(FORCED_EXIT_STATUS)  # the embedded Redis still stops on the way out
        stopping = True
        print("alertgw up: stopping (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        while not stopping and all(child.poll() is None for child in children.values()):
            time.sleep(0.1)
    finally:
        _stop(list(children.values()))
    if stopping:
        return 0
    exited = next(name for name, child in children.items() if child.returncode is not None)
    print(f"alertgw up: the {exited} exited; stopped everything", file=sys.stderr)
    return 1


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill([child])


def _kill(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL each child's whole session (a worker's processes and scheduler forks too)."""
    for child in children:
        if child.poll() is None:
            kill_descendants(child.pid)  # worker processes leave the session's group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
