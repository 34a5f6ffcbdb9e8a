"""The layers of docs/architecture.md hold, and an import that breaks them fails the build.

`lint-imports` checks the contracts in pyproject.toml: the command line (alertgw/) on top,
the gateway and the workers side by side and blind to each other, the shared core below,
and inside workers/ the stages in data-flow order. The violations are made in a copy of
the packages, never in the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("alertgw", "core", "gateway", "workers")
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under `root` (only `contracts`, if given)."""
    # PYTHONPATH first: the packages under `root` are analysed, not the installed ones
    env = {**os.environ, "PYTHONPATH": str(root)}
    only = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo", *only],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The four packages and pyproject.toml, copied to break them."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_untouched_copy_keeps_every_contract(copy: Path):
    # so the failures below come from the one import each adds
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("core/models.py", "import workers.context", "layers"),
        ("core/settings.py", "import gateway.auth", "layers"),
        ("workers/context.py", "import alertgw.cli", "layers"),
        ("gateway/auth.py", "import workers.context", "sides"),
        ("workers/notifiers/base.py", "import gateway.auth", "sides"),
        ("workers/delivery/send.py", "import workers.escalation.steps", "stages"),
        ("workers/notifiers/slack.py", "import workers.context", "stages"),
        ("workers/escalation/path.py", "import workers.incidents.changes", "stages"),
    ],
)
def test_an_import_against_the_layers_fails(
    copy: Path, module: str, bad_import: str, contract: str
):
    with (copy / module).open("a") as source:
        source.write(f"\n{bad_import}  # against the architecture\n")
    result = lint_imports(copy, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 1 broken." in result.stdout
    importer = Path(module).with_suffix("").as_posix().replace("/", ".")
    assert f"{importer} -> {bad_import.split()[1]}" in result.stdout
