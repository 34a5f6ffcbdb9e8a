"""`alertgw serve`: the gateway alone, under uvicorn."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from core.rules import RulesError, load_policy
from core.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the gateway (HTTP) alone")
    parser.add_argument("--host", help="address to listen on (default: ALERTGW_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (default: ALERTGW_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Check the rules before binding the port: a bad file is reported as file:line:col
    # and the process exits, rather than a half-started gateway.
    try:
        load_policy(settings.rules)
    except RulesError as error:
        print(f"alertgw: cannot start, the rules are invalid:\n{error}", file=sys.stderr)
        return 1
    host = args.host or settings.host
    port = args.port or settings.port
    # uvicorn's worker processes build the app from the environment; pass the CLI's
    # choices through it so every process agrees.
    os.environ["ALERTGW_HOST"], os.environ["ALERTGW_PORT"] = host, str(port)
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
    return 0
