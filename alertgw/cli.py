"""The `alertgw` command: one subcommand per job, each a small module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alertgw import (
    drill_cli,
    heartbeats_cli,
    incidents_cli,
    rules_cli,
    serve,
    silence_cli,
    up,
)
from alertgw.postmortem_cli import add_postmortem_command
from core import logs
from core.settings import SettingsError, load_settings
from workers.runtime import commands as worker_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertgw",
        description="Alert-routing webhook gateway: classify alerts and page the right people.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Each side registers its own commands; the worker side owns worker and dead-letters.
    registrars = (
        up.register,
        serve.register,
        worker_commands.register,
        rules_cli.register,
        silence_cli.register,
        drill_cli.register,
        heartbeats_cli.register,
    )
    for register in registrars:
        register(commands)
    add_postmortem_command(incidents_cli.register(commands))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `alertgw` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"alertgw: invalid settings: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        status: int = args.func(args, settings)
    except BrokenPipeError:
        # the reader went away (`alertgw rules test ... | head`): not an error of ours
        sys.stderr.close()
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
