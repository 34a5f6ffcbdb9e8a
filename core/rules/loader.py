"""`load_policy`: rule files on disk -> one validated, compiled `Policy`, or every problem.

Problems are found in two passes. First each file on its own: YAML syntax, duplicate
keys, `${VAR}` references and the schema (unknown keys, types, matchers, durations,
time interval fields). Only when every file passes are they merged and the names they
refer to each other by checked, so a broken file cannot cause a cascade of "unknown
target" problems elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.rules.compile import compile_policy
from core.rules.documents import Document, Loc, read_document
from core.rules.errors import RulesError
from core.rules.merge import merge, references
from core.rules.model import Policy
from core.rules.schema import UNION_TAGS, FileModel

RULE_FILE_SUFFIX = ".yaml"


def load_policy(path: Path, environ: Mapping[str, str] | None = None) -> Policy:
    """Load a rule file, or a directory of `*.yaml` files merged in name order.

    `environ` (default `os.environ`) fills `${VAR}` references. Raises RulesError with
    every problem found as `file:line:col: key: message`.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    files: list[tuple[Document, FileModel]] = []
    for file in rule_files(path):
        document, found = read_document(file, environ)
        problems += found
        if document is not None:
            model, found = validate(document)
            problems += found
            if model is not None:
                files.append((document, model))
    if problems:
        raise RulesError(problems)
    merged, problems = merge(files)
    problems += references(merged)
    if problems:
        raise RulesError(problems)
    return compile_policy(merged)


def rule_files(path: Path) -> list[Path]:
    """The files a path names: itself, or a directory's `*.yaml` (not recursive), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RulesError([f"{path}: no such rule file or directory"])
    files = sorted(p for p in path.iterdir() if p.suffix == RULE_FILE_SUFFIX and p.is_file())
    if not files:
        raise RulesError([f"{path}: no *{RULE_FILE_SUFFIX} rule files in this directory"])
    return files


def validate(document: Document) -> tuple[FileModel | None, list[str]]:
    """The file's schema model, or its problems at their positions."""
    try:
        return FileModel.model_validate(document.root), []
    except ValidationError as error:
        details = [d for d in error.errors() if not _after_unset(document, d["loc"])]
        return None, [_problem(document, detail) for detail in details]


def _after_unset(document: Document, loc: tuple[int | str, ...]) -> bool:
    # a value whose ${VAR} was unset has its problem already; do not report it twice
    return any(loc[: len(unset)] == unset for unset in document.unset)


def _problem(document: Document, detail: ErrorDetails) -> str:
    loc: Loc = tuple(part for part in detail["loc"] if part not in UNION_TAGS)
    on_key = bool(loc) and loc[-1] == "[key]"
    if on_key:
        loc = loc[:-1]
    kind = detail["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1]))
        return document.problem(loc, f"unknown key; expected one of: {allowed}", key=True)
    if kind == "missing":
        return document.problem(loc, "required key is missing")
    error = (detail.get("ctx") or {}).get("error")
    message = str(error) if kind == "value_error" and error is not None else detail["msg"]
    return document.problem(loc, message, key=on_key)


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the schema allows in the mapping at `loc`, for "unknown key" problems."""
    kind: Any = FileModel
    for part in loc:
        kind = _member(_unwrap(kind), part)
    kind = _unwrap(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return [field.alias or name for name, field in kind.model_fields.items()]
    return []


def _member(kind: Any, part: int | str) -> Any:
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        fields = {field.alias or name: field for name, field in kind.model_fields.items()}
        return fields[str(part)].annotation if str(part) in fields else None
    if get_origin(kind) is list:
        return get_args(kind)[0]
    if get_origin(kind) is dict:
        return get_args(kind)[1]
    return None


def _unwrap(kind: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` -> X."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
        elif origin in (Union, UnionType):
            kind = next(arg for arg in get_args(kind) if arg is not type(None))
        else:
            return kind
