"""`alertgw incidents list | show KEY | ack KEY | resolve KEY | note KEY TEXT`, over the API.

Like amtool for Alertmanager: a table by default, the API's JSON with `--format json`.
`register` returns the `incidents` action parsers, so more actions can be added to them
(`add_actions` is the place).
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from alertgw.api_client import call
from core.models import SEVERITIES
from core.settings import Settings

STATUSES = ("open", "acknowledged", "resolved")
if TYPE_CHECKING:  # subscriptable for the type checker only
    Actions = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> Actions:
    """Add `alertgw incidents` and its actions; returns the action parsers."""
    parser = commands.add_parser("incidents", help="list, show, acknowledge, resolve, note")
    parser.add_argument("--url", help="the gateway (default: http://$ALERTGW_HOST:$ALERTGW_PORT)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_actions(actions)
    return actions


def add_actions(actions: Actions) -> None:
    listing = actions.add_parser("list", help="incidents, most severe first, then newest")
    listing.add_argument("--severity", choices=SEVERITIES)
    listing.add_argument("--status", choices=STATUSES)
    listing.set_defaults(func=_list)

    show = actions.add_parser("show", help="one incident with its timeline")
    show.add_argument("key")
    show.set_defaults(func=_show)

    for name, verb in (("ack", "acknowledge: stops the escalation"), ("resolve", "resolve")):
        action = actions.add_parser(name, help=verb)
        action.add_argument("key")
        action.add_argument("--note", default="", help="shown in the timeline")
        action.add_argument("--by", help="who (default: your login name)")
        action.set_defaults(func=_operate, operation=name)

    note = actions.add_parser("note", help="add a note to the timeline")
    note.add_argument("key")
    note.add_argument("text")
    note.add_argument("--by", help="who (default: your login name)")
    note.set_defaults(func=_note)


def sev_first(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then newest: whatever order the API gave."""
    newest = sorted(incidents, key=lambda i: str(i.get("opened_at", "")), reverse=True)
    rank: dict[str, int] = {s: n for n, s in enumerate(SEVERITIES)}
    return sorted(newest, key=lambda i: rank.get(str(i.get("severity")), len(rank)))


def table(incidents: list[dict[str, Any]], now: datetime) -> str:
    """Aligned columns; any field the API adds later is simply not shown."""
    header = ("SEV", "STATUS", "AGE", "ALERTS", "LEAD", "SERVICE", "TITLE", "KEY")
    rows = [header] + [
        (
            str(i.get("severity", "")),
            str(i.get("status", "")),
            _age(i.get("opened_at"), now),
            str(i.get("alert_count", "")),
            str(i.get("lead") or "-"),
            "/".join(str(v) for v in (i.get("service"), i.get("environment")) if v) or "-",
            str(i.get("title", ""))[:60],
            str(i.get("key", "")),
        )
        for i in incidents
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def _list(args: argparse.Namespace, settings: Settings) -> int:
    query = {name: getattr(args, name) for name in ("severity", "status") if getattr(args, name)}
    suffix = f"?{urlencode(query)}" if query else ""
    answer = call(args, settings, "GET", f"/api/v1/incidents{suffix}")
    if answer is None:
        return 1
    incidents = sev_first(answer.get("incidents", []))
    if args.format == "json":
        print(json.dumps({**answer, "incidents": incidents}, indent=2))
    elif incidents:
        print(table(incidents, datetime.now(UTC)))
    else:
        print("no incidents")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(args, settings, "GET", _path(args.key))
    if answer is None:
        return 1
    if args.format == "json":
        print(json.dumps(answer, indent=2))
        return 0
    fields = ("key", "severity", "status", "lead", "title", "service", "environment", "rule")
    for name in (*fields, "escalation", "step", "alert_count", "opened_at"):
        print(f"{name + ':':<13}{answer.get(name) if answer.get(name) is not None else '-'}")
    for link in answer.get("links", []):
        print(f"{'link:':<13}{link.get('text') or ''} {link.get('href')}".rstrip())
    print("timeline:")
    for entry in answer.get("timeline", []):
        print(f"  {entry.get('at')}  {entry.get('kind', ''):<16} {entry.get('text', '')}")
    return 0


def _operate(args: argparse.Namespace, settings: Settings) -> int:
    body = {"by": args.by or getpass.getuser(), "note": args.note}
    answer = call(args, settings, "POST", _path(args.key, f"/{args.operation}"), body)
    return _done(args, answer)


def _note(args: argparse.Namespace, settings: Settings) -> int:
    body = {"by": args.by or getpass.getuser(), "note": args.text}
    return _done(args, call(args, settings, "POST", _path(args.key, "/notes"), body))


def _done(args: argparse.Namespace, answer: Any) -> int:
    if answer is None:
        return 1
    if args.format == "json":
        print(json.dumps(answer, indent=2))
    else:
        print(f"{answer.get('key')}: {answer.get('status')} (lead: {answer.get('lead') or '-'})")
    return 0


def _path(key: str, tail: str = "") -> str:
    return f"/api/v1/incidents/{quote(key, safe='')}{tail}"


def _age(opened_at: Any, now: datetime) -> str:
    try:
        opened = datetime.fromisoformat(str(opened_at))
    except ValueError:
        return "-"
    minutes = max(0, int((now - opened).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 24 else f"{hours // 24}d{hours % 24}h"
