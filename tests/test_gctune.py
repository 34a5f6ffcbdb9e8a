"""A gateway process collects garbage less often, and never walks its start-up heap."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import gc
from gateway.app import app_from_env
before = gc.get_threshold()[0]
app_from_env()
print(before, gc.get_threshold()[0], gc.get_freeze_count() > 10_000)
"""


def test_the_uvicorn_factory_freezes_start_up_and_raises_the_young_threshold(
    redis_url: str, key_prefix: str
) -> None:
    env = {
        **os.environ,
        "ALERTGW_REDIS_URL": redis_url,
        "ALERTGW_REDIS_PREFIX": key_prefix,
        "ALERTGW_RULES": str(REPO / "rules"),
        "ALERTGW_ALLOW_UNSIGNED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # CPython's default, then ours; the imported modules and the rules are frozen
    assert done.stdout.split() == ["700", "10000", "True"]
