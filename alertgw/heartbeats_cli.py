"""`alertgw heartbeats list | pause | resume`: heartbeats through the operator API.

Like `alertgw silence`, it holds no state: it calls `/api/v1/heartbeats` on a running
gateway (`--url`, default `http://$ALERTGW_HOST:$ALERTGW_PORT`) with ALERTGW_API_TOKEN.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any
from urllib.parse import quote

from alertgw.api_client import call as call_api
from core.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("heartbeats", help="what must keep talking: list, pause, resume")
    parser.add_argument("--url", help="the gateway (default: http://$ALERTGW_HOST:$ALERTGW_PORT)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="each heartbeat: state, last beat, next deadline")
    listing.add_argument("--json", action="store_true", help="print the API's JSON")
    listing.set_defaults(func=_list)

    pause = actions.add_parser("pause", help="stop paging for a heartbeat (maintenance)")
    pause.add_argument("name")
    pause.add_argument("--author", "-a", default=None, help="who (default: your login name)")
    pause.set_defaults(func=_pause)

    resume = actions.add_parser("resume", help="check it again, a full period from now")
    resume.add_argument("name")
    resume.set_defaults(func=_resume)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    answer = call_api(args, settings, "GET", "/api/v1/heartbeats")
    if answer is None:
        return 1
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    for beat in answer["heartbeats"]:
        print(_line(beat))
    if not answer["heartbeats"]:
        print("no heartbeats in the rules")
    return 0


def _pause(args: argparse.Namespace, settings: Settings) -> int:
    body = {"by": args.author or getpass.getuser()}
    answer = call_api(args, settings, "POST", f"{_path(args.name)}/pause", body)
    if answer is None:
        return 1
    print(_line(answer))
    return 0


def _resume(args: argparse.Namespace, settings: Settings) -> int:
    answer = call_api(args, settings, "POST", f"{_path(args.name)}/resume")
    if answer is None:
        return 1
    print(_line(answer))
    return 0


def _path(name: str) -> str:
    return f"/api/v1/heartbeats/{quote(name, safe='')}"


def _line(beat: dict[str, Any]) -> str:
    every = f"every {beat['period']} + {beat['grace']}"
    facts = [f"last beat {beat['last_beat'] or 'never'}"]
    if beat["next_deadline"]:
        facts.append(f"next deadline {beat['next_deadline']}")
    if beat["missed_since"]:
        facts.append(f"missed since {beat['missed_since']}")
    if beat["paused_at"]:
        facts.append(f"paused at {beat['paused_at']} by {beat['paused_by']}")
    return f"{beat['name']}  {beat['state']:<8} {beat['severity']}  {every}  " + ", ".join(facts)
