"""`/api/v1/silences` over HTTP, and `alertgw silence` against a served gateway."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from alertgw import api_client, silence_cli
from core.inhibition import with_severity
from core.settings import Settings
from tests.api.operator import API_TOKEN, KEY, bearer, open_incident, operator_app, served
from tests.workers.conftest import Harness

SILENCE = {
    "matchers": ['service="checkout"'],
    "duration": "2h",
    "comment": "migrating the checkout database",
    "created_by": "jane",
}


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str):
    with operator_app(redis_client, key_prefix) as parts:
        yield parts


def create(http: TestClient, **changes: Any) -> Any:
    return http.post("/api/v1/silences", headers=bearer(), json={**SILENCE, **changes})


def test_create_list_and_expire(app: tuple[TestClient, Harness, Any]):
    http, _, _ = app
    answer = create(http)
    assert answer.status_code == 201
    silence = answer.json()
    assert silence["state"] == "active"
    assert silence["ends_at"] == "2026-03-02T12:00:00Z"  # the clock starts at 10:00 UTC
    listed = http.get("/api/v1/silences", headers=bearer()).json()["silences"]
    assert [s["id"] for s in listed] == [silence["id"]]

    expired = http.delete(f"/api/v1/silences/{silence['id']}", headers=bearer())
    assert (expired.status_code, expired.json()["state"]) == (200, "expired")
    assert http.get("/api/v1/silences?state=active", headers=bearer()).json()["silences"] == []
    assert http.delete("/api/v1/silences/nope", headers=bearer()).status_code == 404


def test_a_maintenance_window_with_start_and_end(app: tuple[TestClient, Harness, Any]):
    http, harness, services = app
    start = harness.clock.now + timedelta(days=1)
    answer = create(
        http,
        duration=None,
        starts_at=start.isoformat(),
        ends_at=(start + timedelta(hours=3)).isoformat(),
    )
    assert answer.status_code == 201
    assert answer.json()["state"] == "pending"
    labels = with_severity({"service": "checkout"}, "SEV1")
    assert services.silences.active(labels, harness.clock.now) is None
    assert services.silences.active(labels, start + timedelta(hours=1)) is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"matchers": []}, "matchers: List should have at least 1 item"),
        ({"matchers": ["service"]}, "bad matcher 'service'"),
        ({"matchers": ['service=~".*"']}, "would mute every alert"),
        ({"duration": "soon"}, "duration:"),
        ({"duration": None}, "give exactly one of duration and ends_at"),
        ({"ends_at": "2026-03-02T12:00:00Z"}, "give exactly one of duration and ends_at"),
        (
            {"duration": None, "ends_at": "2026-03-02T12:00:00"},
            "ends_at: Input should have timezone",
        ),
        ({"comment": ""}, "comment: String should have at least 1 character"),
        ({"created_by": None}, "created_by:"),
    ],
)
def test_bad_silences_are_400_with_the_reason(
    app: tuple[TestClient, Harness, Any], changes: dict[str, Any], message: str
):
    http, _, _ = app
    answer = create(http, **changes)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert http.get("/api/v1/silences", headers=bearer()).json()["silences"] == []


def test_silence_then_alert_then_resolve(app: tuple[TestClient, Harness, Any]):
    """The worker's contract: a silenced firing alert is recorded but notifies nobody;
    its resolve still goes out. The worker-side wiring is the lead's; this checks what
    the store tells the worker at each point."""
    http, harness, services = app
    create(http)
    open_incident(harness, service="checkout")
    incident = harness.ctx.store.get(KEY)
    assert incident is not None
    muting = services.silences.active(
        with_severity(incident.labels, incident.severity), harness.clock.now
    )
    assert muting is not None
    assert muting.comment == SILENCE["comment"]
    assert http.post(f"/api/v1/incidents/{KEY}/resolve", headers=bearer()).status_code == 200
    assert services.silences.active({"service": "search"}, harness.clock.now) is None


def run_cli(url: str, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="alertgw")
    silence_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["silence", "--url", url, *argv])
    settings = Settings(api_token=API_TOKEN)  # type: ignore[arg-type]
    status: int = args.func(args, settings)
    return status


def test_cli_adds_lists_and_expires_over_http(
    app: tuple[TestClient, Harness, Any], capsys: pytest.CaptureFixture[str]
):
    http, _, services = app
    with served(http.app) as url:
        added = run_cli(
            url, "add", "-m", 'service="checkout"', "-d", "2h", "-c", "db move", "-a", "jane"
        )
        assert added == 0
        out = capsys.readouterr().out
        assert out.startswith("silence ")
        assert " active until " in out
        silence_id = out.split()[1]

        assert run_cli(url, "list") == 0
        listed = capsys.readouterr().out
        assert silence_id in listed
        assert 'service="checkout"' in listed
        assert "(jane: db move)" in listed

        assert run_cli(url, "expire", silence_id) == 0
        assert f"silence {silence_id} expired at" in capsys.readouterr().out
        assert run_cli(url, "expire", "nope") == 1
        assert "404: no silence 'nope'" in capsys.readouterr().err
        assert run_cli(url, "add", "-m", 'service=~".*"', "-c", "all") == 1
        assert "would mute every alert" in capsys.readouterr().err
    assert [s.id for s in services.silences.list(services.clock(), "expired")] == [silence_id]


def test_cli_default_url_and_unreachable_gateway(capsys: pytest.CaptureFixture[str]):
    args = argparse.Namespace(url=None)
    settings = Settings(host="0.0.0.0", port=9999)
    assert api_client.base_url(args, settings) == "http://127.0.0.1:9999"
    assert api_client.base_url(args, Settings(host="::1", port=8080)) == "http://[::1]:8080"
    assert run_cli("http://127.0.0.1:9", "list") == 1
    assert "cannot reach the gateway" in capsys.readouterr().err
