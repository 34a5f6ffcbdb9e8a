"""What /proc says of a process: the tests' way to see children and exits without psutil."""

from __future__ import annotations

from pathlib import Path


def stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name, from the state on.

    The name is in parentheses and may hold spaces or parentheses itself (`tmux: server`), so
    the fields start after the last `)`. Index 0 is the state, 1 the parent's pid.
    """
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


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
