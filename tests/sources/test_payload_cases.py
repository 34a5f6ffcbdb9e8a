"""Real-world payload cases: each fixture beside a `<name>.expected.json` normalizes to it.

An expected file lists, per alert, the fields that case is about (and the rule and
severity the shipped policy gives it), or the 400 message for a body that must be refused.
A trigger and its recovery must share the fingerprint and the rule: their expected files
say so by holding the same values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.models import Alert
from core.rules import load_policy
from core.rules.model import Policy
from gateway.exceptions import BadPayload
from tests.conftest import PAYLOADS, REPO
from tests.test_rules_shipped import vendor_alerts

CASES = sorted(PAYLOADS.glob("*/*.expected.json"))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(REPO / "rules", environ={})


def normalize(fixture: Path) -> list[Alert]:
    return vendor_alerts(fixture.parent.name, fixture.name)


def outcome(alert: Alert, expected: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The expected file's fields, read off the alert and its classification."""
    first = policy.classify(alert)[0]
    actual: dict[str, Any] = {"rule": first.rule, "severity": first.severity}
    for field in expected:
        if field == "labels":
            actual["labels"] = {name: alert.labels.get(name) for name in expected["labels"]}
        elif field not in actual:
            actual[field] = getattr(alert, field)
    return {field: actual[field] for field in expected}


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.parent.name}/{case.name}")
def test_payload_normalizes_as_expected(case: Path, policy: Policy) -> None:
    expected = json.loads(case.read_text())
    fixture = case.with_name(case.name.removesuffix(".expected.json") + ".json")
    if "error" in expected:
        with pytest.raises(BadPayload) as refused:
            normalize(fixture)
        assert str(refused.value) == expected["error"]
        return
    alerts = normalize(fixture)
    assert [outcome(a, e, policy) for a, e in zip(alerts, expected["alerts"], strict=True)] == (
        expected["alerts"]
    )


def test_every_case_has_a_fixture() -> None:
    assert len(CASES) >= 15  # the cases issue 12 brought
    for case in CASES:
        assert case.with_name(case.name.removesuffix(".expected.json") + ".json").is_file()
