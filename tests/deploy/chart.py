"""Render the Helm chart with the real helm binary and look things up in the result."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "alertgw"
ALL_FEATURES = CHART / "ci" / "all-features-values.yaml"
RELEASE = "alertgw"
NAMESPACE = "alerting"

Doc = dict[str, Any]


def helm() -> str:
    """The helm binary: .tools/bin/helm, else one on PATH; a test without it fails."""
    local = REPO / ".tools" / "bin" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("helm")
    if found is None:
        pytest.fail("helm not found in .tools/bin or on PATH: run .ci/install-tools", pytrace=False)
    return found


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, check=False, cwd=REPO)


@cache
def _render(args: tuple[str, ...]) -> tuple[Doc, ...]:
    done = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    if done.returncode != 0:
        raise AssertionError(f"helm template {' '.join(args)} failed:\n{done.stderr}")
    return tuple(doc for doc in YAML(typ="safe").load_all(done.stdout) if doc)


def render(*args: str) -> list[Doc]:
    """The manifests `helm template` produces with these extra arguments (cached)."""
    return list(_render(args))


def render_all_features(*args: str) -> list[Doc]:
    return render("--values", str(ALL_FEATURES), *args)


def load_values(path: Path) -> Doc:
    loaded: Doc = YAML(typ="safe").load(path.read_text())
    return loaded


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    """Every manifest of this kind (and name, when given)."""
    return [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet")]


def container(workload: Doc) -> Doc:
    containers: list[Doc] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env(workload: Doc) -> dict[str, str]:
    """The container's plain `value` environment variables."""
    return {
        item["name"]: item["value"]
        for item in container(workload).get("env", [])
        if "value" in item
    }


def port_number(workload: Doc, port: int | str) -> int:
    """A probe's or Service's port, resolved through the container's named ports."""
    if isinstance(port, int):
        return port
    for entry in container(workload).get("ports", []):
        if entry["name"] == port:
            number: int = entry["containerPort"]
            return number
    raise AssertionError(f"{workload['metadata']['name']} has no port named {port!r}")


def volume_of(workload: Doc, mount_path: str) -> Doc:
    """The pod volume mounted at this path."""
    mounts = [
        m for m in container(workload).get("volumeMounts", []) if m["mountPath"] == mount_path
    ]
    assert len(mounts) == 1, f"{mount_path} is not mounted exactly once"
    volumes: list[Doc] = workload["spec"]["template"]["spec"].get("volumes", [])
    return next(v for v in volumes if v["name"] == mounts[0]["name"]) | {"mount": mounts[0]}


def walk_strings(node: object) -> Iterator[str]:
    """Every string anywhere in a parsed manifest."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)


GATEWAY = f"{RELEASE}-gateway"
WORKER = f"{RELEASE}-worker"
REDIS = f"{RELEASE}-redis"
