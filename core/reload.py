"""The active rule set, and reloading it without ever dropping to no rules.

A reload parses the files into a new Policy; only a complete, valid set replaces the
active one. An invalid set is rejected whole: the last good rules stay active, and the
outcome is logged and exported (alertgw_rules_last_reload_*).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from core import metrics
from core.rules import RulesError, load_policy
from core.rules.loader import RULE_FILE_SUFFIX
from core.rules.model import Policy

log = logging.getLogger(__name__)


class LivePolicy:
    """Holds the active Policy; `reload()` swaps it only for a valid new one."""

    def __init__(self, path: Path, loader: Callable[[Path], Policy] = load_policy) -> None:
        self.path = path
        self._loader = loader
        self.last_error: RulesError | None = None
        self.current = self._load_first()

    def _load_first(self) -> Policy:
        # At start-up there is no last good set to fall back on: fail loudly.
        policy = self._loader(self.path)
        self._record(success=True)
        log.info("rules loaded from %s: %d rules", self.path, len(policy.rules))
        return policy

    def reload(self) -> bool:
        """Load the files again; keep the current policy if they are invalid."""
        try:
            policy = self._loader(self.path)
        except RulesError as error:
            self.last_error = error
            self._record(success=False)
            log.error("rules reload rejected, the last good rules stay active:\n%s", error)
            return False
        self.current = policy
        self.last_error = None
        self._record(success=True)
        log.info("rules reloaded from %s: %d rules", self.path, len(policy.rules))
        for warning in policy.warnings:
            log.warning("rules: %s", warning)
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a rule file changes, until `stop` is set."""
        # A Kubernetes ConfigMap update is a symlink swap in the directory: watch the
        # directory, not the files.
        target = self.path if self.path.is_dir() else self.path.parent
        changes = awatch(
            target, stop_event=stop, debounce=300, step=100, watch_filter=self.is_rules_change
        )
        async for _changes in changes:
            self.reload()

    def is_rules_change(self, change: Change, path: str) -> bool:
        """Whether a change in the watched directory can change the rules.

        Only the rule files, and a ConfigMap's `..data` symlink swap (kubelet's `..`
        entries), count: logs or a database written beside the rules must not cost a
        reload each time they grow.
        """
        changed = Path(path)
        if changed.name.startswith(".."):
            return True
        if self.path.is_dir():
            return changed.suffix == RULE_FILE_SUFFIX
        return changed.name == self.path.name

    @staticmethod
    def _record(*, success: bool) -> None:
        metrics.rules_last_reload_success.set(1 if success else 0)
        metrics.rules_last_reload_timestamp.set(time.time())
