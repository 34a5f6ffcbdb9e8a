"""The worker side of the CLI: `alertgw worker` and `alertgw dead-letters`."""

from __future__ import annotations

import argparse
import json

import redis

from core.deadletters import DeadLetters
from core.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `worker` and `dead-letters` to the `alertgw` command."""
    worker = commands.add_parser("worker", help="intake + RQ workers with the scheduler")
    worker.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="Prometheus port of process 0; process i uses port+i "
        "(default: ALERTGW_WORKER_METRICS_PORT, 9108; 0: a free port for each process)",
    )
    worker.add_argument(
        "--burst", action="store_true", help="handle what is waiting now, then exit"
    )
    worker.set_defaults(func=run_worker)

    letters = commands.add_parser("dead-letters", help="inspect and re-run failed deliveries")
    actions = letters.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="one JSON line per dead letter").set_defaults(func=list_letters)
    replay = actions.add_parser("replay", help="run dead letters again (all, or by id)")
    replay.add_argument("ids", nargs="*", metavar="ID")
    replay.set_defaults(func=replay_letters)


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    from workers.runtime import runner

    port = settings.worker_metrics_port if args.metrics_port is None else args.metrics_port
    return runner.run(settings, max(1, args.processes), port, args.burst)


def list_letters(args: argparse.Namespace, settings: Settings) -> int:
    for letter in _letters(settings).list():
        print(json.dumps(letter.as_dict()))
    return 0


def replay_letters(args: argparse.Namespace, settings: Settings) -> int:
    from workers import context, jobs
    from workers.runtime import runner

    ctx = runner.build_context(settings)
    context.install(ctx)
    letters = ctx.dead_letters
    ids = args.ids or [letter.id for letter in letters.list()]
    status = 0
    for letter_id in ids:
        letter = letters.take(letter_id)
        if letter is None:
            print(f"alertgw: no dead letter {letter_id}")
            status = 1
            continue
        jobs.replay(ctx, letter.func, letter.args, letter.id)
        print(f"replaying {letter.id} ({letter.func} for incident {letter.incident})")
    return status


def _letters(settings: Settings) -> DeadLetters:
    return DeadLetters(redis.Redis.from_url(settings.redis_url), settings.redis_prefix)
