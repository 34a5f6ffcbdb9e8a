"""Slack: the incident's root message, updates in its thread, buttons to act on it.

Channel targets go through the Web API (`slack_sdk.WebClient`): `chat.postMessage` posts
the INCIDENT DETECTED root (SPEC §1) with Acknowledge / Resolve buttons; later updates are
thread replies, and acknowledge / resolve / severity raised also edit the root with
`chat.update` so it shows the current status. Incoming-webhook targets
(`slack_sdk.webhook.WebhookClient`) only post: they cannot thread or edit.

slack_sdk's own retry handlers are off: one attempt per call, and the caller (RQ, with
jittered backoff honouring `retry_after`) retries. The bot token and webhook URLs are
credentials: they never appear in an error or a log line (the clients log through a
logger that redacts them).
"""

from __future__ import annotations

import http.client
import logging
import re
from collections.abc import Collection
from typing import Any, ClassVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient, WebhookResponse

from core.rules.model import Target
from workers.notifiers.base import (
    Action,
    Metered,
    Notification,
    PermanentError,
    Receipt,
    RetryableError,
    ThreadRef,
    parse_retry_after,
)
from workers.notifiers.ratelimit import RateLimiter, turn
from workers.notifiers.slack_messages import (
    fallback_text,
    headline,
    incident_blocks,
    reply_blocks,
    reply_text,
    reply_with_button,
    standalone,
)

log = logging.getLogger(__name__)

# Web API failures come back as HTTP 200 with {"ok": false, "error": ...}; these are the
# ones worth retrying. Every other error (channel_not_found, not_in_channel, invalid_auth,
# is_archived, msg_too_long, invalid_blocks, ...) is final.
# https://api.slack.com/methods/chat.postMessage#errors
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error",
     "request_timeout"}
)  # fmt: skip
PERMANENT_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "invalid_auth", "not_authed", "account_inactive",
     "token_revoked", "missing_scope", "is_archived", "msg_too_long", "no_text",
     "invalid_blocks", "restricted_action", "message_not_found", "cant_update_message"}
)  # fmt: skip  # documented for readers; anything not retryable is treated the same
# HTTP statuses worth retrying, for the Web API and incoming webhooks alike: 429 with
# Retry-After (https://api.slack.com/apis/rate-limits) and server errors.
RETRYABLE_STATUSES = frozenset({429, *range(500, 600)})

# the root is edited to show these changes; other updates are only thread replies
ROOT_EDITS: frozenset[Action] = frozenset(
    {"acknowledge", "resolve", "severity_raised", "status_update"}
)
DEFAULT_TIMEOUT = 10.0

_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+")
_URL = re.compile(r"https?://[^\s'\"]+")


class _Redact(logging.Filter):
    """Rewrites a record whose text holds a credential (a token; any URL, for webhooks)."""

    def __init__(self, *patterns: re.Pattern[str]) -> None:
        super().__init__()
        self._patterns = patterns

    def filter(self, record: logging.LogRecord) -> bool:
        text = original = record.getMessage()
        for pattern in self._patterns:
            text = pattern.sub("<redacted>", text)
        if text != original:
            record.msg, record.args = text, ()
        return True


def _client_logger(name: str, *patterns: re.Pattern[str]) -> logging.Logger:
    logger = logging.getLogger(f"{__name__}.{name}")
    if not any(isinstance(f, _Redact) for f in logger.filters):
        logger.addFilter(_Redact(*patterns))
    return logger


_API_LOG = _client_logger("api", _TOKEN)
_WEBHOOK_LOG = _client_logger("webhook", _TOKEN, _URL)


class SlackNotifier:
    """Posts incident messages to Slack channels (Web API) and incoming webhooks."""

    channel: ClassVar[str] = "slack"
    actions: ClassVar[frozenset[Action]] = frozenset(
        {"trigger", "escalate", "acknowledge", "resolve", "severity_raised",
         "status_update_due", "status_update", "postmortem_due", "note", "refresh"}
    )  # fmt: skip

    def __init__(
        self,
        api_url: str,
        bot_token: str | None,
        timeout: float = DEFAULT_TIMEOUT,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._timeout = timeout
        self._limiter = limiter  # per channel or webhook, in `turn` order; None: unmetered
        self._has_token = bool(bot_token)
        self._web = web_client(api_url, bot_token, timeout)

    def handles(self, target: Target) -> bool:
        return target.slack is not None

    def send(self, notification: Notification) -> Receipt:
        """Post or update; raise RetryableError or PermanentError."""
        slack = notification.target.slack
        self._wait_turn(notification, (slack.channel or slack.webhook_url or "") if slack else "")
        if slack is not None and slack.channel:
            if not self._has_token:
                raise PermanentError(
                    f"target {notification.target.name!r}: no Slack bot token is configured"
                )
            return self._send_api(notification, slack.channel)
        if slack is not None and slack.webhook_url:
            return self._send_webhook(notification, slack.webhook_url)
        raise PermanentError(
            f"target {notification.target.name!r} has no Slack channel or webhook URL"
        )

    def _wait_turn(self, notification: Notification, where: str) -> None:
        """Raise Metered while the channel has no slot for it (a more severe message first)."""
        if self._limiter is None or not where:
            return
        wait = self._limiter.acquire(where, *turn(notification))
        if wait > 0:
            target = notification.target.name
            raise Metered(f"Slack rate limit for target {target!r}: its turn in {wait:.1f}s", wait)

    def _send_api(self, notification: Notification, channel: str) -> Receipt:
        thread = notification.thread
        where = f"Slack {notification.action} for target {notification.target.name!r}"
        if notification.action == "refresh":
            if thread is None:  # no root message yet: the trigger will post it current
                return Receipt(self.channel, sent=False)
            self._call(
                where,
                "chat.update",
                channel=thread.channel,
                ts=thread.ts,
                text=fallback_text(notification.incident),
                blocks=incident_blocks(notification.incident),
            )
            return Receipt(self.channel, thread)
        if notification.action == "trigger" or thread is None:
            text, blocks = standalone(notification)
            response = self._call(
                where, "chat.postMessage", channel=channel, text=text, blocks=blocks
            )
            posted = ThreadRef(str(response["channel"]), str(response["ts"]))
            log.debug("%s: posted %s in %s", where, posted.ts, posted.channel)
            return Receipt(self.channel, posted)
        incident = notification.incident
        if notification.action in ROOT_EDITS:
            # edit first: it is idempotent, so a retry after a failed reply repeats no post
            self._call(
                where,
                "chat.update",
                channel=thread.channel,
                ts=thread.ts,
                text=fallback_text(incident),
                blocks=incident_blocks(incident),
            )
        self._call(
            where,
            "chat.postMessage",
            channel=thread.channel,
            thread_ts=thread.ts,
            text=reply_text(notification),
            blocks=reply_with_button(notification),
        )
        return Receipt(self.channel, thread)

    def _call(self, where: str, method: str, **body: Any) -> SlackResponse:
        answer = call_api(self._web, where, method, **body)
        assert answer is not None, "no error is accepted"
        return answer

    def _send_webhook(self, notification: Notification, url: str) -> Receipt:
        where = f"Slack webhook {notification.action} for target {notification.target.name!r}"
        if notification.action == "refresh":
            return Receipt(self.channel, sent=False)  # a webhook's message cannot be edited
        if notification.action == "trigger":
            text, blocks = standalone(notification, buttons=False)
        else:
            line = f"{reply_text(notification)} · {headline(notification.incident)}"
            text, blocks = line, reply_blocks(line)
        client = WebhookClient(
            url,
            timeout=self._timeout,  # type: ignore[arg-type]
            logger=_WEBHOOK_LOG,
            retry_handlers=[],
        )
        try:
            response = client.send(text=text, blocks=blocks)
        except (OSError, http.client.HTTPException) as error:
            raise _network_error(where, error) from None
        if response.status_code != 200:
            raise _webhook_error(where, response)
        return Receipt(self.channel)

    def __repr__(self) -> str:
        return f"SlackNotifier({self._web.base_url!r})"


def web_client(api_url: str, bot_token: str | None, timeout: float, retries: int = 0) -> WebClient:
    """A Web API client whose log lines never hold the token; `retries` rate-limited
    calls are retried after Slack's Retry-After (slack_sdk's handler), none by default."""
    handlers: list[RetryHandler] = []
    if retries:
        handlers.append(RateLimitErrorRetryHandler(max_retry_count=retries))
    return WebClient(
        token=bot_token or None,
        base_url=api_url,
        timeout=timeout,  # type: ignore[arg-type]  # slack_sdk types it int; urllib takes float
        logger=_API_LOG,
        retry_handlers=handlers,
    )


def call_api(
    web: WebClient, where: str, method: str, accept: Collection[str] = (), **body: Any
) -> SlackResponse | None:
    """One Web API call; None for an error in `accept` (one that means "done already");
    other errors as RetryableError or PermanentError."""
    try:
        return web.api_call(method, json=body)
    except SlackApiError as error:
        if error.response.get("error") in accept:
            return None
        raise _api_error(where, error.response) from None
    except (OSError, http.client.HTTPException) as error:
        raise _network_error(where, error) from None


def _api_error(where: str, response: SlackResponse) -> Exception:
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")[:200]
    if status in RETRYABLE_STATUSES or error in RETRYABLE_ERRORS:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RetryableError(f"{where}: {error} (HTTP {status})", retry_after)
    return PermanentError(f"{where}: {error} (HTTP {status})")


def _webhook_error(where: str, response: WebhookResponse) -> Exception:
    status = response.status_code
    detail = _TOKEN.sub("<redacted>", _URL.sub("<redacted>", str(response.body or "")))[:200]
    if status in RETRYABLE_STATUSES:
        retry_after = parse_retry_after(_header(response.headers, "Retry-After"))
        return RetryableError(f"{where}: HTTP {status}", retry_after)
    return PermanentError(f"{where}: HTTP {status} {detail}".rstrip())


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None


def _network_error(where: str, error: BaseException) -> RetryableError:
    reason = getattr(error, "reason", None)  # urllib's URLError wraps the socket error
    cause = reason if isinstance(reason, BaseException) else error
    kind = "timed out" if isinstance(cause, TimeoutError) else "connection failed"
    return RetryableError(f"{where}: {kind} ({type(cause).__name__})")
