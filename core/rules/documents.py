"""One rule file read into a YAML tree that remembers where every key and value was.

Every later problem is reported against these positions as `file:line:col: key: message`
(1-based), so ops people can go straight to the line. `${VAR}` references are replaced
here, before validation, so a substituted value is validated like a written one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

Key = str | int
Loc = tuple[Key, ...]

# `${NAME}`, `${NAME:-default}`, and `$${` for a literal `${`.
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DUPLICATE = re.compile(r'found duplicate key "(.*?)" with value')


@dataclass
class Document:
    """A rule file's YAML tree, with the positions of its nodes."""

    name: str
    root: Any
    unset: set[Loc] = field(default_factory=set)  # values whose ${VAR} was not set

    def where(self, loc: Loc, *, key: bool = False) -> str:
        """`file:line:col` of the value at `loc` (of its key with `key=True`); where the
        path stops existing, of the deepest node that does exist."""
        node, line, col = self.root, 0, 0
        if isinstance(node, CommentedMap | CommentedSeq):
            line, col = node.lc.line, node.lc.col
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                value = node[part]
                on_key = (key and last) or isinstance(value, CommentedMap | CommentedSeq)
                line, col = node.lc.key(part) if on_key else node.lc.value(part)
                node = value
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line, col = node.lc.item(part)
                node = node[part]
            else:
                break
        return f"{self.name}:{line + 1}:{col + 1}"

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> str:
        """`file:line:col: dotted.key: message`."""
        return f"{self.where(loc, key=key)}: {dotted(loc)}: {message}"


def dotted(loc: Loc) -> str:
    """`("rules", 0, "matchers")` -> `rules[0].matchers`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def read_document(path: Path, environ: Mapping[str, str]) -> tuple[Document | None, list[str]]:
    """Parse one file and substitute `${VAR}`; no document when it is not a YAML mapping."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [f"{name}: cannot read the file: {error.__class__.__name__}"]
    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as error:
        return None, [_yaml_problem(name, text, error)]
    if not isinstance(root, CommentedMap):
        shape = "empty" if root is None else f"a {type(root).__name__}, not a mapping"
        return None, [f"{name}:1:1: the file is {shape}; it must start with `version: 1`"]
    document = Document(name, root)
    return document, _substitute(document, root, (), environ)


def _yaml_problem(name: str, text: str, error: MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
    duplicate = _DUPLICATE.search(error.problem or "")
    if duplicate is None:
        context = error.context_mark if error.context_mark is not error.problem_mark else None
        started = (
            f" ({error.context} at line {context.line + 1}, column {context.column + 1})"
            if context and error.context
            else ""
        )
        return f"{where}: invalid YAML: {error.problem or error.context}{started}"
    # ruamel's own message repeats both values, which may be credentials: say less
    key = duplicate.group(1)
    parent = _mapping_at(text, error.context_mark) if error.context_mark else None
    loc = dotted((*parent, key)) if parent is not None else key
    return f"{where}: {loc}: duplicate key; each key may appear only once in a mapping"


def _mapping_at(text: str, mark: Any) -> Loc | None:
    """The path of the mapping that starts at `mark`, found in a duplicates-allowed load."""
    loader = YAML(typ="rt")
    loader.allow_duplicate_keys = True
    return _find(loader.load(text), (mark.line, mark.column), ())


def _find(node: Any, position: tuple[int, int], loc: Loc) -> Loc | None:
    if isinstance(node, CommentedMap | CommentedSeq):
        if isinstance(node, CommentedMap) and (node.lc.line, node.lc.col) == position:
            return loc
        keys = node.keys() if isinstance(node, CommentedMap) else range(len(node))
        for key in keys:
            found = _find(node[key], position, (*loc, key))
            if found is not None:
                return found
    return None


def _substitute(document: Document, node: Any, loc: Loc, environ: Mapping[str, str]) -> list[str]:
    """Replace `${VAR}` in every string value under `node`, in place."""
    problems: list[str] = []
    keys = node.keys() if isinstance(node, CommentedMap) else range(len(node))
    for key in list(keys):
        value, here = node[key], (*loc, key)
        if isinstance(value, CommentedMap | CommentedSeq):
            problems += _substitute(document, value, here, environ)
        elif isinstance(value, str) and "${" in value:
            try:
                node[key] = _expand(value, environ)
            except KeyError as missing:
                document.unset.add(here)
                problems.append(document.problem(here, str(missing.args[0])))
    return problems


def _expand(value: str, environ: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.groups()
        if name is None:
            return "${"
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise KeyError(
            f"environment variable {name} is not set (write ${{{name}:-}} to allow it to be empty)"
        )

    expanded = _REFERENCE.sub(replace, value)
    if "${" in _REFERENCE.sub("", value):
        raise KeyError("invalid ${...} reference: write ${NAME} or ${NAME:-default}")
    return expanded
