"""Builders shared by the console tests: the real gateway routes over a worker harness.

The app is `api_mount` plus `console_routes` over the harness's Redis, key prefix,
incident store, policy and virtual clock, so what a page does is seen by the same
workers that page people (recording notifiers), and time moves only when a test says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.deadletters import DeadLetters
from core.settings import Settings
from core.silences import SilenceStore
from gateway.api import api_mount
from gateway.api.services import Services
from gateway.ui import console_routes
from tests.workers.conftest import Harness, _forget_jobs, make_harness

API_TOKEN = "ui-token-3c9d"


def console_app(
    client: redis.Redis, prefix: str, harness: Harness, **settings: Any
) -> tuple[Starlette, Services]:
    values: dict[str, Any] = {"redis_prefix": prefix, "api_token": API_TOKEN, **settings}
    services = Services(
        Settings(**values),
        client,
        harness.ctx.store,
        SilenceStore(client, prefix),
        clock=harness.clock,
    )
    letters = DeadLetters(client, prefix)
    routes = [api_mount(services), *console_routes(services, harness.ctx.policy_source, letters)]
    return Starlette(routes=routes), services


@contextmanager
def console(
    client: redis.Redis, prefix: str, **settings: Any
) -> Iterator[tuple[TestClient, Harness]]:
    """(HTTP client, worker harness) sharing one Redis prefix and one clock."""
    harness = make_harness(client, prefix)
    app, _ = console_app(client, prefix, harness, **settings)
    try:
        with TestClient(app, follow_redirects=False) as http:
            yield http, harness
    finally:
        _forget_jobs(harness)


def pages_sent(harness: Harness, key: str | None = None) -> list[tuple[str, str]]:
    """(action, target) of every PagerDuty event sent (about one incident), in order."""
    sent = harness.pagerduty.sent
    return [(n.action, n.target.name) for n in sent if key is None or n.incident.key == key]


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def log_in(http: TestClient, name: str = "alice", token: str = API_TOKEN) -> None:
    page = http.get("/ui/login")
    answer = http.post("/ui/login", data={"csrf": csrf_of(page.text), "name": name, "token": token})
    assert answer.status_code == 303, answer.text
