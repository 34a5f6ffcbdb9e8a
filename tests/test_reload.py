"""The live rule set reloads when a rule file changes, and only then."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from watchfiles import Change

from core.reload import LivePolicy
from core.rules import load_policy
from core.rules.model import Policy
from tests.conftest import REPO


class CountingLoader:
    def __init__(self) -> None:
        self.loads = 0

    def __call__(self, path: Path) -> Policy:
        self.loads += 1
        return load_policy(REPO / "rules")


@pytest.mark.parametrize(
    ("changed", "counts"),
    [
        ("50-classification.yaml", True),
        ("..data", True),  # kubelet swapping a ConfigMap's files
        ("..2026_11_22_23_30_00.123/50-classification.yaml", True),
        ("redis.aof", False),
        ("gateway.log", False),
        ("notes.txt", False),
    ],
)
def test_a_rules_directory_counts_only_rule_files_and_configmap_swaps(
    tmp_path: Path, changed: str, counts: bool
) -> None:
    live = LivePolicy(tmp_path, loader=CountingLoader())

    assert live.is_rules_change(Change.modified, str(tmp_path / changed)) is counts


def test_a_single_rules_file_counts_only_itself(tmp_path: Path) -> None:
    live = LivePolicy(tmp_path / "rules.yaml", loader=CountingLoader())

    assert live.is_rules_change(Change.modified, str(tmp_path / "rules.yaml"))
    assert not live.is_rules_change(Change.modified, str(tmp_path / "other.yaml"))
    assert not live.is_rules_change(Change.added, str(tmp_path / "app.log"))


def test_a_log_growing_beside_the_rules_does_not_reload_them(tmp_path: Path) -> None:
    loader = CountingLoader()
    live = LivePolicy(tmp_path, loader=loader)

    async def until(loads: int, seconds: float = 10.0) -> None:
        for _ in range(int(seconds * 10)):
            if loader.loads >= loads:
                return
            await asyncio.sleep(0.1)

    async def scenario() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(live.watch(stop))
        rules = tmp_path / "rules.yaml"
        while loader.loads < 2:  # until the watcher is live and sees a rule file change
            rules.write_text("# edited\n")
            await until(2, seconds=1.0)
        (tmp_path / "worker.log").write_text("a line\n")
        await asyncio.sleep(1.5)  # well past the debounce: a reload would have happened
        rules.write_text("# edited again\n")
        await until(3)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)

    asyncio.run(scenario())

    assert loader.loads == 3  # the start and the two rule file changes: not the log's
