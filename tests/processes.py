"""What /proc says of a process: the tests' way to see children and exits without psutil
(read with the workers' own `stat_fields`)."""

from __future__ import annotations

from pathlib import Path

from workers.runtime.stopping import stat_fields


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = stat_fields(entry.name)
            except (OSError, ValueError):
                continue  # gone meanwhile
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` exists and has not exited; a zombie has exited (only its parent's
    bookkeeping is left)."""
    try:
        return stat_fields(pid)[0] != "Z"
    except (OSError, ValueError):
        return False
