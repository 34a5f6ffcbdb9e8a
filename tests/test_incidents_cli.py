"""`alertgw incidents` against a served gateway API over real Redis and the worker code."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from alertgw import cli, incidents_cli
from tests.api.operator import API_TOKEN, KEY, open_incident, operator_app, served
from tests.workers.conftest import Harness

SEARCH = "search-slow:service=search"


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALERTGW_API_TOKEN", API_TOKEN)
    with operator_app(redis_client, key_prefix) as parts:
        yield parts


def run(url: str, *argv: str) -> int:
    return cli.main(["incidents", "--url", url, *argv])


def test_list_is_sev_first_as_a_table_or_json(
    app: tuple[TestClient, Harness, Any], capsys: pytest.CaptureFixture[str]
):
    http, harness, _ = app
    open_incident(harness)  # SEV1, older
    open_incident(harness, key=SEARCH, fingerprint="am:2", severity="SEV3", service="search")
    with served(http.app) as url:
        assert run(url, "list") == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == [
            "SEV",
            "STATUS",
            "AGE",
            "ALERTS",
            "LEAD",
            "SERVICE",
            "TITLE",
            "KEY",
        ]
        assert [line.split()[0] for line in lines[1:]] == ["SEV1", "SEV3"]
        assert lines[1].endswith(KEY)
        assert run(url, "--format", "json", "list", "--severity", "SEV3") == 0
        listed = json.loads(capsys.readouterr().out)
        assert [i["key"] for i in listed["incidents"]] == [SEARCH]
        assert run(url, "list", "--status", "resolved") == 0
        assert capsys.readouterr().out == "no incidents\n"


def test_ack_note_resolve_and_show(
    app: tuple[TestClient, Harness, Any], capsys: pytest.CaptureFixture[str]
):
    http, harness, _ = app
    open_incident(harness)
    with served(http.app) as url:
        assert run(url, "ack", KEY, "--by", "jane") == 0
        assert capsys.readouterr().out == f"{KEY}: acknowledged (lead: jane)\n"
        assert run(url, "note", KEY, "db failover started", "--by", "jane") == 0
        assert run(url, "resolve", KEY, "--by", "jane", "--note", "fixed") == 0
        capsys.readouterr()
        assert run(url, "show", KEY) == 0
        shown = capsys.readouterr().out
        assert "status:      resolved" in shown
        assert "acknowledged     jane" in shown
        assert "note             jane: db failover started" in shown
        assert run(url, "ack", KEY) == 1
        assert "409" in capsys.readouterr().err
        assert run(url, "show", "nope:x") == 1
        assert "404: no incident 'nope:x'" in capsys.readouterr().err


def test_clear_errors_without_gateway_or_token(
    app: tuple[TestClient, Harness, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    assert run("http://127.0.0.1:9", "list") == 1
    assert "cannot reach the gateway at http://127.0.0.1:9" in capsys.readouterr().err
    http, _, _ = app
    monkeypatch.delenv("ALERTGW_API_TOKEN")
    with served(http.app) as url:
        assert run(url, "list") == 1
    err = capsys.readouterr().err
    assert "401" in err
    assert "set ALERTGW_API_TOKEN" in err


def test_the_incidents_actions_can_be_extended():
    import argparse

    parser = argparse.ArgumentParser()
    actions = incidents_cli.register(parser.add_subparsers())
    extra = actions.add_parser("postmortem")
    extra.add_argument("key")
    args = parser.parse_args(["incidents", "postmortem", "k"])
    assert (args.action, args.key) == ("postmortem", "k")
