"""The /proc reading the process tests rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import children_of, running
from workers.runtime.stopping import stat_fields

# PR_SET_NAME: the name /proc shows in parentheses; `tmux: server` once broke a plain split.
RENAME_THEN_WAIT = (
    "import ctypes, sys; ctypes.CDLL(None).prctl(15, b'a) b: (c)', 0, 0, 0); "
    "print('renamed', flush=True); sys.stdin.read()"
)


def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", RENAME_THEN_WAIT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "renamed\n"
        assert Path(f"/proc/{child.pid}/comm").read_text() == "a) b: (c)\n"
        assert int(stat_fields(child.pid)[1]) == os.getpid()
        assert child.pid in children_of(os.getpid())
        assert running(child.pid)
    finally:
        child.communicate("")
    assert not running(child.pid)
