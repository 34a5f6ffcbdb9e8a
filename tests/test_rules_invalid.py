"""Every invalid rule file is rejected with its exact problems (tests/rules/invalid/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.rules import RulesError, load_policy

INVALID = Path(__file__).parent / "rules" / "invalid"
CASES = sorted(p.name.removesuffix(".expected") for p in INVALID.glob("*.expected"))


def test_every_invalid_case_has_its_expected_problems() -> None:
    inputs = {p.name.removesuffix(".yaml") for p in INVALID.iterdir() if p.suffix != ".expected"}
    assert inputs == set(CASES)
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES)
def test_invalid_rules(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # problems name files relative to how the path was given: load from the cases' folder
    monkeypatch.chdir(INVALID)
    path = Path(f"{case}.yaml") if Path(f"{case}.yaml").exists() else Path(case)
    expected = (INVALID / f"{case}.expected").read_text().splitlines()
    with pytest.raises(RulesError) as raised:
        load_policy(path, environ={})
    assert raised.value.problems == expected
    assert str(raised.value) == "\n".join(expected)


def test_a_missing_path_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as raised:
        load_policy(tmp_path / "nope.yaml", environ={})
    assert raised.value.problems == [f"{tmp_path / 'nope.yaml'}: no such rule file or directory"]


def test_a_secret_in_a_duplicate_key_is_not_repeated(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\ntargets:\n  oncall:\n    pagerduty:\n"
        "      routing_key: Rk1-value\n      routing_key: Rk2-value\n"
    )
    with pytest.raises(RulesError) as raised:
        load_policy(path, environ={})
    assert "Rk1" not in str(raised.value)
    assert "Rk2" not in str(raised.value)
    assert str(raised.value) == (
        f"{path}:6:7: targets.oncall.pagerduty.routing_key: duplicate key; "
        "each key may appear only once in a mapping"
    )
