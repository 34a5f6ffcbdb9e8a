"""`alertgw incidents postmortem KEY`: print the draft, show its state, or mark it done.

Like `alertgw silence`, it calls the operator API of a running gateway
(`alertgw.api_client`; `--url` of the `incidents` group).

  alertgw incidents postmortem KEY                   the Markdown draft, to stdout
  alertgw incidents postmortem KEY --state           its state (due, overdue, done) as JSON
  alertgw incidents postmortem KEY --done --link URL mark it done (stops the reminders)
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any
from urllib.parse import quote

from alertgw.api_client import request
from core.settings import Settings


def add_postmortem_command(
    incidents: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add `postmortem` to the `incidents` group (whose parser holds `--url`)."""
    parser = incidents.add_parser(
        "postmortem", help="an incident's postmortem: the draft, its state, mark it done"
    )
    parser.add_argument("key", help="the incident key (as `alertgw incidents list` shows it)")
    parser.add_argument("--inc", help="which incarnation of the key (default: the latest)")
    parser.add_argument("--state", action="store_true", help="print its state as JSON")
    parser.add_argument(
        "--done", action="store_true", help="mark it done (needs --link); stops the reminders"
    )
    parser.add_argument("--link", help="URL of the written postmortem, with --done")
    parser.add_argument("--by", default=None, help="who marks it done (default: your login)")
    parser.set_defaults(func=run_postmortem)


def run_postmortem(args: argparse.Namespace, settings: Settings) -> int:
    path = f"/api/v1/incidents/{quote(args.key, safe='')}/postmortem"
    query = f"?inc={quote(args.inc, safe='')}" if args.inc else ""
    if args.done:
        if not args.link:
            print("alertgw: --done needs --link URL (the written postmortem)", file=sys.stderr)
            return 2
        body: dict[str, Any] = {"done": True, "url": args.link, "by": args.by or getpass.getuser()}
        if args.inc:
            body["inc"] = args.inc
        response = request(args, settings, "POST", path, body)
        if response is None:
            return 1
        answer = response.json()
        print(f"postmortem of {answer['key']} marked done: {answer['url']}")
        return 0
    if args.state:
        response = request(args, settings, "GET", path + query)
        if response is None:
            return 1
        print(json.dumps(response.json(), indent=2))
        return 0
    response = request(args, settings, "GET", f"{path}.md{query}")
    if response is None:
        return 1
    sys.stdout.write(response.text)
    return 0
