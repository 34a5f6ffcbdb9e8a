"""The playground's engine: the shipped examples, rule verdicts, bad payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.rules import load_policy
from gateway.exceptions import GatewayError
from gateway.ui.playground import example_text, examples, run
from tests.conftest import REPO

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SHIPPED = load_policy(REPO / "rules")


@pytest.mark.parametrize("name", sorted(examples()))
def test_every_shipped_example_classifies_under_the_shipped_rules(name: str):
    text = example_text(name)
    assert text is not None
    trials = run(SHIPPED, examples()[name], text, NOW)
    assert trials, f"{name} holds no alert"
    for trial in trials:
        assert trial.results
        assert [c.name for c in trial.checks] == [r.name for r in SHIPPED.rules]


def test_the_checkout_example_names_its_rule_and_why_others_failed():
    text = example_text("alertmanager-checkout-firing.json")
    assert text is not None
    trial = run(SHIPPED, "alertmanager", text, NOW)[0]
    matched = [c for c in trial.checks if c.matched and c.reached]
    assert [c.name for c in matched] == [trial.results[0]["rule"]]
    assert trial.results[0]["severity"] == "SEV1"
    missed = [c for c in trial.checks if not c.matched]
    assert missed
    assert all(c.failed for c in missed)


def test_unknown_example_and_bad_payload():
    assert example_text("../../pyproject.toml") is None
    with pytest.raises(GatewayError, match="not valid JSON"):
        run(SHIPPED, "alertmanager", "{", NOW)
