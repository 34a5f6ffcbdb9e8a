"""PagerDuty Events API v2: trigger, acknowledge and resolve alerts keyed by incident.

Sent through the `pagerduty` package's EventsApiV2Client with its own retry loops turned
off (it would retry a 429 forever and sleep for minutes inside a job): one attempt per
call, and the caller (RQ, with jittered backoff honouring `retry_after`) decides when to
try again. A shared Redis limiter keeps each routing key under PagerDuty's ~120 events a
minute across every worker process.

The routing key is the credential: it never appears in an error, a log line or a repr.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar

import httpx2
import pagerduty
import redis

from core.rules.model import Target
from workers.notifiers.base import (
    Action,
    IncidentView,
    Metered,
    Notification,
    PermanentError,
    Receipt,
    RetryableError,
    parse_retry_after,
)
from workers.notifiers.ratelimit import Clock, RateLimiter, turn

log = logging.getLogger(__name__)

# Retry on 429 (rate limited) and any 5xx; every other 4xx is final (400: invalid event).
# https://developer.pagerduty.com/docs/events-api-v2-overview#response-codes--retry-logic
RETRYABLE_STATUSES = frozenset({429, *range(500, 600)})

# What each alertgw action becomes in PagerDuty; the others (thread notes, reminders,
# severity raised) are chat-only and not sent.
EVENT_ACTIONS: dict[Action, str] = {
    "trigger": "trigger",
    "escalate": "trigger",  # a later step pages its own routing key, same dedup_key
    "acknowledge": "acknowledge",
    "resolve": "resolve",
}
MAX_SUMMARY = 1024  # PagerDuty truncates payload.summary past this
DEFAULT_TIMEOUT = 10.0
# keep-alive connections shared by all routing keys: one per worker thread sending at once
POOL_LIMITS = httpx2.Limits(max_connections=32, max_keepalive_connections=8)


class _EventsClient(pagerduty.EventsApiV2Client):
    """The package's client with one attempt per call and http:// allowed (local fakes)."""

    max_network_attempts = 0  # a connection error raises at once instead of sleeping

    def __init__(
        self, routing_key: str, base_url: str, timeout: float, transport: httpx2.HTTPTransport
    ) -> None:
        super().__init__(routing_key, base_url=base_url, transport=transport)
        self.retry = {}  # no per-status retries (the base class retries 5xx with sleeps)
        self.timeout = timeout  # type: ignore[assignment]  # declared int; httpx2 takes float

    @property
    def url(self) -> str:
        return str(self._url)

    @url.setter
    def url(self, value: str) -> None:
        self._url = value  # the package insists on https://; tests use a local http server

    def postprocess(self, response: httpx2.Response) -> None:
        # Called on every response before the package's retry loop looks at it: raising
        # here is what stops it from retrying a 429 forever.
        if not response.is_success:
            raise _Refused(response)

    def __repr__(self) -> str:
        return f"_EventsClient({self.url!r})"


class _Refused(Exception):
    """PagerDuty answered with a non-2xx status."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PagerDutyNotifier:
    """Sends Events API v2 events for incidents to PagerDuty targets."""

    channel: ClassVar[str] = "pagerduty"
    actions: ClassVar[frozenset[Action]] = frozenset(EVENT_ACTIONS)

    def __init__(
        self,
        events_url: str,
        redis: redis.Redis,
        prefix: str,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = time.time,
        limit_per_minute: int = 120,
    ) -> None:
        self._events_url = events_url.rstrip("/")
        self._timeout = timeout
        self._limiter = RateLimiter(redis, prefix, "pagerduty", limit_per_minute, 60.0, clock)
        # One connection pool (and one TLS context, ~45 ms of CPU to build) for every
        # routing key: the key travels in the body, so clients differ only in that.
        self._transport = httpx2.HTTPTransport(limits=POOL_LIMITS)
        self._clients: dict[str, _EventsClient] = {}
        self._lock = threading.Lock()

    def handles(self, target: Target) -> bool:
        return target.pagerduty is not None

    def send(self, notification: Notification) -> Receipt:
        """Send the event for `notification`; raise RetryableError or PermanentError."""
        event_action = EVENT_ACTIONS.get(notification.action)
        if event_action is None:
            return Receipt(self.channel, sent=False)
        target = notification.target
        routing_key = target.pagerduty.routing_key if target.pagerduty else ""
        if not routing_key:
            raise PermanentError(f"target {target.name!r} has no PagerDuty routing key")
        wait = self._limiter.acquire(routing_key, *turn(notification))
        if wait > 0:
            raise Metered(
                f"PagerDuty rate limit for target {target.name!r}: its turn in {wait:.1f}s", wait
            )
        where = f"PagerDuty {event_action} for target {target.name!r}"
        try:
            self._client(routing_key).send_event(
                event_action, dedup_key=notification.incident.key, **_properties(notification)
            )
        except _Refused as refused:
            raise _error_for(refused.response, where, routing_key) from None
        except pagerduty.Error as error:
            raise _network_error(error, where) from None
        log.debug("%s: incident %s accepted", where, notification.incident.key)
        return Receipt(self.channel)

    def _client(self, routing_key: str) -> _EventsClient:
        # the package's client carries its routing key (auth), so one thin client per key,
        # all on the shared transport
        with self._lock:
            client = self._clients.get(routing_key)
            if client is None:
                client = _EventsClient(
                    routing_key, self._events_url, self._timeout, self._transport
                )
                self._clients[routing_key] = client
            return client

    def close(self) -> None:
        """Close the HTTP connections."""
        with self._lock:
            self._clients.clear()
            self._transport.close()

    def __repr__(self) -> str:
        return f"PagerDutyNotifier({self._events_url!r})"


class _Fresh(dict[str, Any]):
    """Part of an event built for one call and never shared: nothing to copy.

    The package deep-copies every request's arguments (`ApiClient.request`) so that it
    may change them: ~75 `deepcopy` calls per trigger (labels, details, links), ~0.1 ms
    of CPU per page. It only ever adds the routing key to the top-level body, which it
    builds itself; what lies below is ours, so its copy may be itself.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _Fresh:
        return self


def _properties(notification: Notification) -> dict[str, Any]:
    """The event body besides routing_key, event_action and dedup_key."""
    if EVENT_ACTIONS[notification.action] != "trigger":
        return {}
    incident = notification.incident
    properties: dict[str, Any] = {"payload": _Fresh(_payload(incident)), "client": "alertgw"}
    if incident.links:
        properties["links"] = [_Fresh(href=link.href, text=link.text) for link in incident.links]
    return properties


def _payload(incident: IncidentView) -> dict[str, Any]:
    details: dict[str, Any] = {
        "incident": incident.key,
        "severity": incident.severity,
        "rule": incident.rule,
        "alerts": incident.alert_count,
        "labels": dict(incident.labels),
    }
    if incident.summary:
        details["summary"] = incident.summary
    payload: dict[str, Any] = {
        "summary": summary(incident),
        "source": incident.service or incident.source,
        "severity": incident.pagerduty_severity,
        "class": incident.rule,
        "custom_details": details,
    }
    if incident.opened_at is not None:
        payload["timestamp"] = incident.opened_at.isoformat()
    if incident.service:
        payload["component"] = incident.service
    if incident.environment:
        payload["group"] = incident.environment
    return payload


def summary(incident: IncidentView) -> str:
    """`[SEV1] <service>: <title>`, or `[SEV1] <title>` without a service."""
    head = f"[{incident.severity}] "
    text = (
        f"{head}{incident.service}: {incident.title}" if incident.service else head + incident.title
    )
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def _error_for(response: httpx2.Response, where: str, routing_key: str) -> Exception:
    status = response.status_code
    if status in RETRYABLE_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RetryableError(f"{where}: HTTP {status}", retry_after)
    detail = _vendor_detail(response).replace(routing_key, "<routing key>")
    return PermanentError(f"{where}: HTTP {status}{detail}")


def _vendor_detail(response: httpx2.Response) -> str:
    """PagerDuty's own explanation of a refused event (its `errors` list), if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    return ": " + "; ".join(str(e) for e in errors)[:500]


def _network_error(error: pagerduty.Error, where: str) -> RetryableError:
    cause = error.__cause__
    if isinstance(cause, httpx2.TimeoutException):
        return RetryableError(f"{where}: timed out ({type(cause).__name__})")
    if isinstance(cause, httpx2.TransportError):
        return RetryableError(f"{where}: connection failed ({type(cause).__name__})")
    # the package's own complaints (a malformed 2xx body): the event is keyed by
    # dedup_key, so sending it again is safe
    return RetryableError(f"{where}: unexpected answer ({type(error).__name__})")
