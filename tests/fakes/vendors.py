"""PagerDuty Events API v2 and Slack Web API / incoming webhooks as local HTTP servers.

Use as context managers (`with FakePagerDuty() as pd: ...`) or as the pytest fixtures
`fake_pagerduty` / `fake_slack` below (import them into a conftest, or list this module in
`pytest_plugins`). They answer like the vendors do (shapes from /work/shared/VENDORS.md §5
and §7), validate what the vendors validate, and record everything for assertions.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.server import FakeServer, Recorded, Reply
from tests.fakes.slack_conversations import Conversations

__all__ = [
    "TEST_BOT_TOKEN",
    "FakePagerDuty",
    "FakeSlack",
    "Recorded",
    "fake_pagerduty",
    "fake_slack",
]

PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
WEBHOOK_PATH = "/services/T000/B000/XXX"
TEST_BOT_TOKEN = "xoxb-test-token"


class FakePagerDuty(FakeServer):
    """`POST /v2/enqueue` and `/v2/change/enqueue`; `events_url` is the base URL to configure.

    With `limit_per_minute` it enforces PagerDuty's per-integration-key limit as PagerDuty
    does: an event over `limit_per_minute` accepted within the last 60 s (by `clock`) for
    its routing key gets 429 "throttle event", no Retry-After, and is not accepted.
    """

    def __init__(
        self, limit_per_minute: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.limit_per_minute = limit_per_minute
        self._clock = clock
        self._accepted: dict[str, deque[float]] = {}
        self._limit_lock = threading.Lock()

    @property
    def events_url(self) -> str:
        return self.url

    def handle(self, request: Recorded) -> Reply:
        if request.path == "/v2/enqueue":
            return self._enqueue(request.body)
        if request.path == "/v2/change/enqueue":
            return self._change(request.body)
        return Reply(404, {"status": "not found"})

    def scripted_body(self, status: int) -> Any:
        if status == 429:
            return {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly.",
            }
        if status == 400:
            return {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["scripted"],
            }
        return f"{status} server error" if status >= 500 else {"status": "error"}

    def _enqueue(self, event: Any) -> Reply:
        errors = _event_errors(event)
        if errors:
            return Reply(
                400,
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            )
        if not self._admit(str(event["routing_key"])):
            return Reply(429, self.scripted_body(429))
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        return Reply(
            202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
        )

    def _admit(self, routing_key: str) -> bool:
        if self.limit_per_minute is None:
            return True
        with self._limit_lock:
            now = self._clock()
            times = self._accepted.setdefault(routing_key, deque())
            while times and times[0] <= now - 60.0:
                times.popleft()
            if len(times) >= self.limit_per_minute:
                return False
            times.append(now)
            return True

    def _change(self, event: Any) -> Reply:
        if not isinstance(event, dict) or not event.get("routing_key"):
            return Reply(400, {"status": "invalid event", "errors": ["routing_key is missing"]})
        return Reply(202, {"status": "success", "message": "Change event processed"})

    def events(
        self,
        action: str | None = None,
        dedup_key: str | None = None,
        routing_key: str | None = None,
        accepted: bool = True,
    ) -> list[dict[str, Any]]:
        """Event bodies received at /v2/enqueue (only the 202-accepted ones unless told)."""
        return [
            r.body
            for r in self.requests
            if r.path == "/v2/enqueue"
            and isinstance(r.body, dict)
            and (not accepted or r.status == 202)
            and (action is None or r.body.get("event_action") == action)
            and (dedup_key is None or r.body.get("dedup_key") == dedup_key)
            and (routing_key is None or r.body.get("routing_key") == routing_key)
        ]

    def wait_for_events(self, n: int, action: str | None = None, timeout: float = 5.0) -> None:
        """Block until `n` accepted events (of `action`) arrived."""
        self.wait_for(
            n,
            timeout,
            lambda r: (
                r.path == "/v2/enqueue"
                and r.status == 202
                and (action is None or r.body.get("event_action") == action)
            ),
        )


def _event_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event must be a JSON object."]
    errors = []
    if not event.get("routing_key"):
        errors.append("'routing_key' is missing or blank.")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve).")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank.")
    if len(str(event.get("dedup_key", ""))) > 255:
        errors.append("'dedup_key' must be at most 255 characters.")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing."]
        for name in ("summary", "source"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank.")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' is invalid.")
    return errors


class FakeSlack(FakeServer):
    """Slack Web API (`chat.postMessage`, `chat.update`, and the channel methods of
    `conversations`) and one incoming webhook.

    `api_url` and `webhook_url` are what to configure. Channel names map to stable ids
    (`#incidents` -> `C...`); every posted message gets a unique, increasing `ts`.
    `unknown_channels` answer `channel_not_found`; a wrong bot token `invalid_auth`.
    """

    def __init__(self, token: str = TEST_BOT_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.unknown_channels: set[str] = set()
        self._epoch = int(time.time())
        self._counter = itertools.count(1)
        self._posted: dict[tuple[str, str], dict[str, Any]] = {}
        self.conversations = Conversations(self._lock)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{WEBHOOK_PATH}"

    @staticmethod
    def channel_id(name: str) -> str:
        """The id the fake gives a channel name (ids are passed through)."""
        if name.startswith("C") and name.isupper():
            return name
        return "C" + hashlib.sha256(name.encode()).hexdigest()[:10].upper()

    def handle(self, request: Recorded) -> Reply:
        if request.path.startswith("/services/"):
            if request.path != WEBHOOK_PATH:
                return Reply(404, "no_service")
            has_text = isinstance(request.body, dict) and (
                request.body.get("text") or request.body.get("blocks")
            )
            return Reply(200, "ok") if has_text else Reply(400, "no_text")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _slack_error("invalid_auth")
        body = request.body if isinstance(request.body, dict) else {}
        if request.path == "/api/chat.postMessage":
            return self._post(body)
        if request.path == "/api/chat.update":
            return self._update(body)
        answer = self.conversations.handle(request.path.removeprefix("/api/"), body)
        if answer is not None:
            return answer
        return Reply(404, {"ok": False, "error": "unknown_method"})

    def scripted_body(self, status: int) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        return f"{status} error" if status >= 500 else {"ok": False, "error": "invalid_request"}

    def fail(self, error: str, *, times: int = 1) -> None:
        """Answer the next `times` Web API calls with HTTP 200 `{"ok": false, "error": error}`."""
        self.respond(200, body={"ok": False, "error": error}, times=times)

    def _post(self, body: dict[str, Any]) -> Reply:
        channel = str(body.get("channel", ""))
        if not channel or channel in self.unknown_channels:
            return _slack_error("channel_not_found")
        if not body.get("text") and not body.get("blocks"):
            return _slack_error("no_text")
        if self.conversations.archived_channel(channel):
            return _slack_error("is_archived")
        channel_id = self.channel_id(channel)
        n = next(self._counter)
        ts = f"{self._epoch + n // 1_000_000}.{n % 1_000_000:06d}"
        with self._lock:
            self._posted[(channel_id, ts)] = body
        message = {"type": "message", "ts": ts, "text": body.get("text", "")}
        return Reply(200, {"ok": True, "channel": channel_id, "ts": ts, "message": message})

    def _update(self, body: dict[str, Any]) -> Reply:
        key = (str(body.get("channel", "")), str(body.get("ts", "")))
        with self._lock:
            known = key in self._posted
        if not known:
            return _slack_error("message_not_found")
        return Reply(200, {"ok": True, "channel": key[0], "ts": key[1], "text": body.get("text")})

    def _accepted(self, path: str) -> list[dict[str, Any]]:
        return [
            r.body
            for r in self.requests
            if r.path == path and r.status == 200 and isinstance(r.body, dict) and _ok(r.reply)
        ]

    def messages(
        self, channel: str | None = None, thread_ts: str | None = None
    ) -> list[dict[str, Any]]:
        """Accepted `chat.postMessage` bodies, optionally in one channel / one thread."""
        return [
            body
            for body in self._accepted("/api/chat.postMessage")
            if (channel is None or body.get("channel") == channel)
            and (thread_ts is None or body.get("thread_ts") == thread_ts)
        ]

    def roots(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages that are not thread replies."""
        return [m for m in self.messages(channel) if not m.get("thread_ts")]

    def updates(self, ts: str | None = None) -> list[dict[str, Any]]:
        """Accepted `chat.update` bodies, optionally of the message `ts`."""
        return [b for b in self._accepted("/api/chat.update") if ts is None or b.get("ts") == ts]

    def webhook_posts(self) -> list[dict[str, Any]]:
        """Bodies the incoming webhook accepted."""
        return self._accepted(WEBHOOK_PATH)

    def errors(self) -> list[str]:
        """The Slack `error` strings answered so far (`ok: false` bodies, webhook errors)."""
        found = []
        for r in self.requests:
            if isinstance(r.reply, dict) and r.reply.get("ok") is False:
                found.append(str(r.reply.get("error")))
            elif isinstance(r.reply, str) and r.reply != "ok":
                found.append(r.reply)
        return found


def _ok(reply: Any) -> bool:
    return reply == "ok" or (isinstance(reply, dict) and reply.get("ok") is True)


def _slack_error(error: str) -> Reply:
    return Reply(200, {"ok": False, "error": error})


@pytest.fixture
def fake_pagerduty() -> Iterator[FakePagerDuty]:
    """A running FakePagerDuty, closed after the test."""
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running FakeSlack (bot token `xoxb-test-token`), closed after the test."""
    with FakeSlack() as fake:
        yield fake
