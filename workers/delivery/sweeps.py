"""Sweeps: one RQ job per grid point that works through a sorted set of things due.

Status-update reminders (`workers.escalation.reminders`) and auto-resolves
(`workers.incidents.autoresolve`) keep what is due in a sorted set (score = when),
written in the same Lua step as the change that makes it due, rather than as an RQ job
each: a job costs a new incident a round trip and ~1 KB of Redis until it runs, and an
auto-resolve deadline moves with every alert. A sweep runs on a grid of SWEEP_GRID (one
job per grid point, whoever asks first), takes what is due, leasing it for LEASE (a
worker dying mid-sweep leaves it due again then), and asks for the sweep after the
earliest member left, so the chain goes on as long as the set holds anything. Each
worker's refresher asks again every few seconds, so a chain that broke (a worker
restarted, a job was lost) starts again by itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from core.incidents.record import from_timestamp
from workers.context import Context
from workers.delivery.scheduling import digest, schedule

SWEEP_GRID = timedelta(seconds=10)  # a due member is swept at most this late
LEASE = timedelta(seconds=60)
TAKE = 100  # members taken from the set at a time

# Take up to ARGV[3] members due by ARGV[1], pushing them to ARGV[2] (the lease).
_TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member) end
return due
"""


def take_due(ctx: Context, key: str, now: datetime) -> Iterator[list[bytes]]:
    """Batches of the members of `key` due by `now`, each leased before it is handed out."""
    take = ctx.redis.register_script(_TAKE_DUE)
    lease = (now + LEASE).timestamp()
    while due := take(keys=[key], args=[now.timestamp(), lease, TAKE]):
        yield due
        if len(due) < TAKE:
            return


def keep_sweeping(
    ctx: Context, key: str, tag: str, sweep: Callable[[], None], points: set[int]
) -> None:
    """A `sweep` job for the earliest member of `key`, or at once when it is overdue."""
    first = ctx.redis.zrange(key, 0, 0, withscores=True)
    if first:
        at = max(from_timestamp(first[0][1]), ctx.clock())
        ensure_sweep(ctx, tag, sweep, points, at)


def ensure_sweep(
    ctx: Context, tag: str, sweep: Callable[[], None], points: set[int], at: datetime
) -> None:
    """A `sweep` job at the first grid point at or after `at`, once per point and process
    (`points`: the grid points this process asked for)."""
    grid = SWEEP_GRID.total_seconds()
    point = int(math.ceil(at.timestamp() / grid) * grid)
    if point in points:
        return
    job_id = f"{tag}-{digest(ctx.prefix)}-{point}"
    schedule(ctx, from_timestamp(point), sweep, [], job_id, ctx.urgent_queue)
    now = ctx.clock().timestamp()
    points.difference_update([p for p in points if p < now])
    points.add(point)
