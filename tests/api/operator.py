"""Builders shared by the API and callback tests: an operator app over a worker harness.

The app is the real routes (`callback_routes`, `api_mount`) over the worker harness's
Redis, key prefix, incident store and clock, so an acknowledgement made through HTTP is
seen by the same workers that page (with recording notifiers).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.rules.model import Policy
from core.settings import Settings
from core.silences import SilenceStore
from gateway.api import api_mount
from gateway.api.services import Services
from gateway.callbacks import callback_routes
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import entry, hand_off

API_TOKEN = "api-token-5e1f"
PD_SECRET = "pd-secret-77aa"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret
KEY = "checkout-down:service=checkout"


@contextmanager
def operator_app(
    client: redis.Redis, prefix: str, rules: Policy | None = None, **settings: Any
) -> Iterator[tuple[TestClient, Harness, Services]]:
    """(HTTP client, worker harness, services) sharing one Redis prefix and one clock."""
    harness = make_harness(client, prefix, rules)
    values: dict[str, Any] = {
        "redis_prefix": prefix,
        "api_token": API_TOKEN,
        "pagerduty_webhook_secret": PD_SECRET,
        "slack_signing_secret": SLACK_SECRET,
        **settings,
    }
    config = Settings(**values)
    services = Services(
        config, client, harness.ctx.store, SilenceStore(client, prefix), clock=harness.clock
    )
    app = Starlette(routes=[*callback_routes(services), api_mount(services)])
    try:
        with TestClient(app) as http:
            yield http, harness, services
    finally:
        _forget_jobs(harness)


def open_incident(harness: Harness, key: str = KEY, **fields: Any) -> None:
    """Hand one firing alert to the workers and let them page step 1."""
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(key=key, **fields))
    harness.run_due()


def bearer(token: str = API_TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def status(harness: Harness, key: str = KEY) -> str | None:
    """The incident's status, or None when the store does not know it."""
    incident = harness.ctx.store.get(key)
    return incident.status if incident else None


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on an ephemeral loopback port; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
