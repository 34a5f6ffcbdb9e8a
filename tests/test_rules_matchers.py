"""Alertmanager matcher syntax and semantics (core/rules/matchers.py)."""

from __future__ import annotations

import pytest

from core.rules import MatcherError, parse_matcher, parse_matchers
from core.rules.matchers import VERDICT_CACHE_SIZE, Regex


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('service="checkout"', {"service": "checkout"}, True),
        ('service="checkout"', {"service": "checkout-api"}, False),
        ('service!="checkout"', {"service": "cart"}, True),
        ('service!="checkout"', {"service": "checkout"}, False),
        # fully anchored: a regex matches the whole value, never a part of it
        ('service=~"check"', {"service": "checkout"}, False),
        ('service=~"check"', {"service": "check"}, True),
        ('service=~"check.*"', {"service": "checkout"}, True),
        ('service=~"checkout|payments"', {"service": "payments"}, True),
        ('service=~"checkout|payments"', {"service": "payments-api"}, False),
        ('service=~"(checkout|payments)(-.*)?"', {"service": "payments-api"}, True),
        ('service!~"checkout|payments"', {"service": "cart"}, True),
        ('service!~"checkout|payments"', {"service": "checkout"}, False),
        ('service!~"check.*"', {"service": "checkout"}, False),
        ('alertname=~"(?i).*latency.*"', {"alertname": "HighLatencyP95"}, True),
        # a missing label equals the empty string
        ('team=""', {}, True),
        ('team!=""', {}, False),
        ('team=~".+"', {}, False),
        ('team=~".*"', {}, True),
        ('team!~".+"', {}, True),
        ('team=~"a|"', {}, True),
        # RE2: `.` does not match a newline unless (?s) says so, as in Go
        ('title=~"a.*"', {"title": "a\nb"}, False),
        ('title=~"(?s)a.*"', {"title": "a\nb"}, True),
    ],
)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('service="checkout"', "service", "=", "checkout"),
        ('  service  =~  "a|b"  ', "service", "=~", "a|b"),
        ("service=checkout", "service", "=", "checkout"),
        ('title="say \\"hi\\""', "title", "=", 'say "hi"'),
        ('path="a\\\\b"', "path", "=", "a\\b"),
        ('text="one\\ntwo"', "text", "=", "one\ntwo"),
        # not an escape: kept, so regex classes survive
        ('code=~"\\d+"', "code", "=~", "\\d+"),
        ('browser.name!="Chrome"', "browser.name", "!=", "Chrome"),
        ('empty=""', "empty", "=", ""),
    ],
)
def test_parses(text: str, name: str, op: str, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)


def test_string_form_parses_back_to_the_same_matcher() -> None:
    for text in ['a="x \\"y\\""', 'b!~"\\\\d+"', 'c=~"one\\ntwo"']:
        matcher = parse_matcher(text)
        assert parse_matcher(str(matcher)) == matcher


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service", "expected a label name, an operator (=, !=, =~, !~) and a value"),
        ('1service="x"', "expected a label name"),
        ('service == "x"', "the operator must be one of =, !=, =~, !~"),
        ('service="a"b"', "unescaped double quote in the value"),
        ('service=~"(a"', "invalid regex: missing ): (a"),
        ('service=~"(?=a)"', "invalid regex: invalid perl operator: (?="),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as raised:
        parse_matcher(text)
    assert str(raised.value).startswith(f"bad matcher {text!r}: ")
    assert message in str(raised.value)


def test_parse_matchers_all_or_error() -> None:
    matchers = parse_matchers(['a="1"', 'b=~"2|3"'])
    assert [str(m) for m in matchers] == ['a="1"', 'b=~"2|3"']
    with pytest.raises(MatcherError):
        parse_matchers(['a="1"', "b"])


def test_regex_verdicts_are_remembered_up_to_a_bound() -> None:
    matcher = parse_matcher('id=~"x[0-9]+"')
    assert isinstance(matcher, Regex)
    for number in range(VERDICT_CACHE_SIZE + 10):
        assert matcher.matches({"id": f"x{number}"})
    assert not matcher.matches({"id": "y1"})
    assert len(matcher._cache) == VERDICT_CACHE_SIZE
    # a remembered verdict and a computed one agree
    assert matcher.matches({"id": "x1"})
    assert not matcher.matches({"id": "x"})
