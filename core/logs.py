"""Logging: readable text by default, one JSON object per line with ALERTGW_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType

# Context a log call may attach with `extra={...}`; emitted as fields in JSON.
CONTEXT_FIELDS = ("request_id", "source", "fingerprint", "incident", "job_id", "target")

# Fields every record logged while handling one request (or job) carries.
_context: ContextVar[Mapping[str, str]] = ContextVar(
    "alertgw_log_context", default=MappingProxyType({})
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class context:
    """Attach `fields` to every record logged inside the block (this task or thread only).

    A class, not @contextmanager: it runs on every webhook request, and a generator-based
    context manager costs several times more to enter and leave.
    """

    def __init__(self, **fields: str) -> None:
        self._fields = fields
        self._token: Token[Mapping[str, str]] | None = None

    def __enter__(self) -> None:
        self._token = _context.set({**_context.get(), **self._fields})

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _context.reset(self._token)


def request_id(given: str | None, make: str) -> str:
    """The caller's X-Request-ID when it is a sane token, else `make` (a fresh id)."""
    return given if given and _REQUEST_ID.fullmatch(given) else make


class ContextFilter(logging.Filter):
    """Copies the current `context()` fields onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the context fields that were given."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message [key=value ...]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = [
            f"{name}={value}"
            for name in CONTEXT_FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        return f"{text} [{' '.join(context)}]" if context else text


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send alertgw's logs (and the libraries') to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The HTTP client libraries log request URLs at DEBUG/INFO; a Slack webhook URL is
    # itself a secret, so they never log below WARNING.
    for noisy in ("httpx", "httpcore", "urllib3", "slack_sdk", "pagerduty"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def rq_level(level: str) -> str:
    """RQ's own log level: WARNING, DEBUG when alertgw logs at DEBUG, or alertgw's if quieter.

    RQ logs registry housekeeping every few seconds per queue and three lines per job at
    INFO; alertgw logs each notification it sends itself, so RQ's INFO is only noise.
    """
    numeric = logging.getLevelName(level.upper())
    if numeric == logging.DEBUG:
        return "DEBUG"
    if isinstance(numeric, int) and numeric > logging.WARNING:
        return level.upper()
    return "WARNING"
