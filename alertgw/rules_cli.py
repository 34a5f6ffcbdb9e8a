"""`alertgw rules check` and `alertgw rules test`: what ops people run before merging."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from starlette.datastructures import Headers

from core.rules import RulesError, load_policy
from core.rules.explain import explain, format_text
from core.settings import Settings
from gateway.exceptions import GatewayError
from gateway.sources import SOURCES
from gateway.sources.base import Delivery


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("rules", help="check rule files, or test them on a payload")
    rules = parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)

    check = rules.add_parser("check", help="validate rule files; exit 1 listing every problem")
    check.add_argument(
        "path", nargs="?", type=Path, help="file or directory (default: ALERTGW_RULES)"
    )
    check.set_defaults(func=run_check)

    test = rules.add_parser(
        "test", help="classify a webhook payload file, without sending anything"
    )
    test.add_argument("payload", type=Path, help="a JSON body as the source would post it")
    test.add_argument("--source", required=True, choices=sorted(SOURCES))
    test.add_argument("--rules", type=Path, help="file or directory (default: ALERTGW_RULES)")
    test.add_argument("--format", choices=["json", "text"], default="json")
    test.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a request header the source reads, e.g. Sentry-Hook-Resource:issue",
    )
    test.set_defaults(func=run_test)


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    path = args.path or settings.rules
    try:
        policy = load_policy(path)
    except RulesError as error:
        for problem in error.problems:
            print(problem)
        print(f"{len(error.problems)} problem(s); the rules in {path} are invalid", file=sys.stderr)
        return 1
    for warning in policy.warnings:
        print(f"warning: {warning}")
    print(
        f"{path}: OK: {len(policy.rules)} rules, {len(policy.escalations)} escalations, "
        f"{len(policy.targets)} targets, {len(policy.heartbeats)} heartbeat(s) "
        f"in {len(policy.files)} file(s)",
        file=sys.stderr,
    )
    return 0


def run_test(args: argparse.Namespace, settings: Settings) -> int:
    try:
        policy = load_policy(args.rules or settings.rules)
        delivery = _delivery(args.payload, args.header)
        source = SOURCES[args.source]
        alerts = source.normalize(source.parse(delivery), delivery)
    except RulesError as error:
        print(str(error), file=sys.stderr)
        return 1
    except (GatewayError, OSError, ValueError) as error:
        print(f"alertgw: {args.payload}: {error}", file=sys.stderr)
        return 1
    if not alerts:
        print(f"{args.payload}: no alerts in this payload (not an alerting event)", file=sys.stderr)
    for alert in alerts:
        results = explain(policy, alert)
        if args.format == "text":
            print(format_text(results))
        else:
            for result in results:
                print(json.dumps(result, default=str))
    return 0


def _delivery(payload: Path, headers: list[str]) -> Delivery:
    values = {"content-type": "application/json"}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep:
            raise ValueError(f"--header {header!r} is not NAME:VALUE")
        values[name.strip().lower()] = value.strip()
    return Delivery(
        body=payload.read_bytes(),
        headers=Headers(values),
        query={},
        received_at=datetime.now(UTC),
    )
