"""The `alertgw` command: one subcommand per job, each a small module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alertgw import logs, rules_cli, serve, up
from gateway.settings import SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertgw",
        description="Alert-routing webhook gateway: classify alerts and page the right people.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(commands)
    return parser


def _command_modules() -> list[object]:
    modules: list[object] = [up, serve, rules_cli]
    # The worker side registers its own commands (worker, dead-letters).
    from workers import commands as worker_commands

    modules.append(worker_commands)
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `alertgw` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"alertgw: invalid settings: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    status: int = args.func(args, settings)
    return status


if __name__ == "__main__":
    sys.exit(main())
