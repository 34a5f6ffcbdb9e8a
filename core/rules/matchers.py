"""Alertmanager label matchers: `name="value"`, `name!="value"`, `name=~"re"`, `name!~"re"`.

Parsing follows Alertmanager's classic matcher parser (`pkg/labels/parse.go`): the value
may be quoted, `\\"`, `\\\\` and `\\n` are escapes and any other backslash is kept as is (so
`=~"\\d+"` is a regex digit class). Regexes use RE2, as Alertmanager's Go regexps do: no
backtracking, and fully anchored, so `service=~"check"` does not match `checkout`. A
missing label equals the empty string.

Matching is on the gateway's hot path, so the work is done once here: a regex that is a
plain alternation of literals becomes a set lookup, and other regexes remember their
verdict for the label values they have seen (alert label values repeat a lot).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import re2

from core.rules.errors import MatcherError

LABEL_NAME: Final = r"[A-Za-z_][A-Za-z0-9_.:/-]*"
_MATCHER = re.compile(rf"\s*({LABEL_NAME})\s*(=~|!~|!=|=)\s*(.*?)\s*", re.DOTALL)
_REGEX_SYNTAX = frozenset("\\.+*?()|[]{}^$")
# Bound on remembered verdicts per regex: enough for every service or environment name,
# small enough that free-text labels (titles) cannot grow it without limit.
VERDICT_CACHE_SIZE = 4096
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors are raised to the caller, not printed to stderr


class LabelMatcher:
    """Shared parts of the four matcher kinds; subclasses define `op` and `matches`."""

    __slots__ = ("name", "value")
    op: str = ""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def matches(self, labels: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'

    def __repr__(self) -> str:
        return f"parse_matcher({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelMatcher):
            return NotImplemented
        return (self.op, self.name, self.value) == (other.op, other.name, other.value)

    def __hash__(self) -> int:
        return hash((self.op, self.name, self.value))


class Equal(LabelMatcher):
    """`name="value"`."""

    __slots__ = ()
    op = "="

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get(self.name, "") == self.value


class NotEqual(LabelMatcher):
    """`name!="value"`."""

    __slots__ = ()
    op = "!="

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get(self.name, "") != self.value


class Regex(LabelMatcher):
    """`name=~"regex"`, fully anchored."""

    __slots__ = ("_cache", "_literals", "_regexp")
    op = "=~"

    def __init__(self, name: str, value: str) -> None:
        super().__init__(name, value)
        self._literals = _literal_alternatives(value)
        self._regexp: Any = None if self._literals is not None else _compile(value)
        self._cache: dict[str, bool] = {}

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self._literals is not None:  # inlined: the common case, on the hot path
            return value in self._literals
        return self._test(value)

    def _test(self, value: str) -> bool:
        if self._literals is not None:
            return value in self._literals
        verdict = self._cache.get(value)
        if verdict is None:
            verdict = self._regexp.fullmatch(value) is not None
            if len(self._cache) < VERDICT_CACHE_SIZE:
                self._cache[value] = verdict
        return verdict


class NotRegex(Regex):
    """`name!~"regex"`, fully anchored."""

    __slots__ = ()
    op = "!~"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self._test(labels.get(self.name, ""))


_KINDS: dict[str, type[LabelMatcher]] = {"=": Equal, "!=": NotEqual, "=~": Regex, "!~": NotRegex}


def parse_matcher(text: str) -> LabelMatcher:
    """Parse one matcher such as `service=~"checkout|payments"`. Raises MatcherError."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise MatcherError(
            f"bad matcher {text!r}: expected a label name, an operator (=, !=, =~, !~) "
            'and a value, e.g. service="checkout"'
        )
    name, op, raw = found.groups()
    if raw[:1] in ("=", "~"):
        raise MatcherError(f"bad matcher {text!r}: the operator must be one of =, !=, =~, !~")
    value = _unquote(raw, text)
    try:
        return _KINDS[op](name, value)
    except re2.error as error:
        reason = error.args[0].decode() if isinstance(error.args[0], bytes) else error.args[0]
        raise MatcherError(f"bad matcher {text!r}: invalid regex: {reason}") from None


def parse_matchers(texts: Iterable[str]) -> tuple[LabelMatcher, ...]:
    """Parse a list of matchers (all must match). Raises MatcherError naming the bad one."""
    return tuple(parse_matcher(text) for text in texts)


def _unquote(raw: str, text: str) -> str:
    quoted = len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"'
    if quoted:
        raw = raw[1:-1]
    out: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == '"':
            raise MatcherError(f"bad matcher {text!r}: unescaped double quote in the value")
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, None)
        if following is None:
            out.append("\\")  # a trailing backslash is literal, as in Alertmanager
        elif following == "n":
            out.append("\n")
        elif following in '"\\':
            out.append(following)
        else:
            out.append("\\" + following)  # not an escape: keeps regex classes like \d
    return "".join(out)


def _compile(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def _literal_alternatives(pattern: str) -> frozenset[str] | None:
    """`a|b|c` with no other regex syntax is the set {a, b, c}; anything else is None."""
    if any(char in _REGEX_SYNTAX for char in pattern.replace("|", "")):
        return None
    return frozenset(pattern.split("|"))
