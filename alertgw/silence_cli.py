"""`alertgw silence add | list | expire`: silences through the operator API, over HTTP.

The CLI holds no state of its own: it calls `/api/v1/silences` on a running gateway
(`--url`, default `http://$ALERTGW_HOST:$ALERTGW_PORT`) with ALERTGW_API_TOKEN, so it
works the same against a laptop's `alertgw up` and a cluster's gateway.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any
from urllib.parse import quote

from alertgw.api_client import call as _call
from core.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("silence", help="mute notifications: add, list, expire")
    parser.add_argument("--url", help="the gateway (default: http://$ALERTGW_HOST:$ALERTGW_PORT)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create a silence (or a maintenance window)")
    add.add_argument(
        "--matcher",
        "-m",
        action="append",
        required=True,
        help="Alertmanager matcher, repeatable: --matcher 'service=\"checkout\"'",
    )
    add.add_argument("--duration", "-d", help="how long: 30m, 2h, 1d (default 2h)")
    add.add_argument("--starts-at", help="RFC 3339 start, for a maintenance window")
    add.add_argument("--ends-at", help="RFC 3339 end, instead of --duration")
    add.add_argument("--comment", "-c", required=True, help="why (shown to on-call)")
    add.add_argument("--author", "-a", default=None, help="who (default: your login name)")
    add.set_defaults(func=_add)

    listing = actions.add_parser("list", help="list silences")
    listing.add_argument("--state", choices=["pending", "active", "expired"])
    listing.add_argument("--json", action="store_true", help="print the API's JSON")
    listing.set_defaults(func=_list)

    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", help="the silence id (from `alertgw silence list`)")
    expire.set_defaults(func=_expire)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, Any] = {
        "matchers": args.matcher,
        "comment": args.comment,
        "created_by": args.author or getpass.getuser(),
    }
    if args.starts_at:
        body["starts_at"] = args.starts_at
    if args.ends_at:
        body["ends_at"] = args.ends_at
    if args.duration or not args.ends_at:
        body["duration"] = args.duration or "2h"
    answer = _call(args, settings, "POST", "/api/v1/silences", body)
    if answer is None:
        return 1
    print(f"silence {answer['id']} {answer['state']} until {answer['ends_at']}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    query = f"?state={args.state}" if args.state else ""
    answer = _call(args, settings, "GET", f"/api/v1/silences{query}")
    if answer is None:
        return 1
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    for s in answer["silences"]:
        print(
            f"{s['id']}  {s['state']:<8} {s['starts_at']} -> {s['ends_at']}  "
            f"{', '.join(s['matchers'])}  ({s['created_by']}: {s['comment']})"
        )
    if not answer["silences"]:
        print("no silences")
    return 0


def _expire(args: argparse.Namespace, settings: Settings) -> int:
    answer = _call(args, settings, "DELETE", f"/api/v1/silences/{quote(args.id, safe='')}")
    if answer is None:
        return 1
    print(f"silence {answer['id']} expired at {answer['ends_at']}")
    return 0
