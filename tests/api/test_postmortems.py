"""`/api/v1/incidents/{key}/postmortem(.md)`: a SEV1 acknowledged, noted and resolved
through the API; its draft agrees with the API's own record of it."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import redis
from starlette.testclient import TestClient

from alertgw.cli import build_parser
from core.rules.model import PostmortemPolicy
from core.settings import Settings
from tests.api.operator import API_TOKEN, KEY, bearer, open_incident, operator_app, served
from tests.workers.conftest import Harness
from tests.workers.helpers import policy

App = tuple[TestClient, Harness, Any]


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str):
    owed = PostmortemPolicy(frozenset({"SEV1", "SEV2"}), timedelta(hours=48))
    rules = dataclasses.replace(policy(), postmortem=owed)
    with operator_app(redis_client, key_prefix, rules) as parts:
        yield parts


def path(tail: str, key: str = KEY) -> str:
    return f"/api/v1/incidents/{quote(key, safe='')}{tail}"


def resolved_sev1(http: TestClient, harness: Harness) -> None:
    """Opened at 10:00, acknowledged 10:03, a note 10:10, resolved 10:40 (UTC)."""
    open_incident(harness)
    for minutes, tail, body in (
        (3, "/ack", {"by": "jane"}),
        (10, "/notes", {"by": "jane", "note": "rolled back deploy 512"}),
        (40, "/resolve", {"by": "jane", "note": "error rate back to normal"}),
    ):
        harness.clock.now = harness.clock.now.replace(minute=minutes)
        answer = http.post(path(tail), json=body, headers=bearer())
        assert answer.status_code in (200, 201), answer.text
        harness.run_due()


def test_the_draft_agrees_with_the_incident_record(app: App):
    http, harness, _ = app
    resolved_sev1(http, harness)
    answer = http.get(path("/postmortem.md"), headers=bearer())
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/markdown; charset=utf-8"
    draft = answer.text
    record = http.get(path(""), headers=bearer()).json()

    assert draft.startswith("# Postmortem: HighErrorRate\n")
    assert "Status: draft, due 2026-03-04 10:40:00." in draft
    for row in (
        "| Severity | SEV1 |",
        "| Services | checkout |",
        "| Environments | production |",
        "| Detection (incident opened) | 2026-03-02 10:00:00 |",
        "| Acknowledged | 2026-03-02 10:03:00 by jane |",
        "| Resolved | 2026-03-02 10:40:00 by jane |",
        "| Time to acknowledge | 3m 00s |",
        "| Time to resolve | 40m 00s |",
        "| 2026-03-02 10:00:00 | trigger to oncall (pagerduty) |",
        "| 2026-03-02 10:03:00 | acknowledged by jane |",
    ):
        assert row in draft
    # every line of the API's timeline, in order, in the draft's Timeline section
    timeline = draft.split("## Timeline\n")[1].split("\n## ")[0]
    expected = [
        f"| {e['at'][:19].replace('T', ' ')} | {e['kind'].replace('_', ' ')} | {e['text']} |"
        for e in record["timeline"]
    ]
    rows = [line for line in timeline.splitlines() if line.startswith("| 2026")]
    assert rows == expected
    assert "| 2026-03-02 10:10:00 | note | jane: rolled back deploy 512 |" in rows
    for heading in ("Impact", "Root cause", "Contributing factors", "Fix", "Prevention"):
        assert f"\n## {heading}\n\n<!-- " in draft
    assert "## Action items\n" in draft
    assert "| Item | Owner | Due |" in draft


def test_marking_it_done_needs_a_link_and_shows_in_its_state(app: App):
    http, harness, _ = app
    resolved_sev1(http, harness)
    state = http.get(path("/postmortem"), headers=bearer()).json()
    assert (state["done"], state["overdue"], state["due_at"]) == (
        False,
        False,
        "2026-03-04T10:40:00Z",
    )
    assert state["draft"] == path("/postmortem.md")

    missing = http.post(path("/postmortem"), json={"done": True}, headers=bearer())
    assert missing.status_code == 400
    assert "url" in missing.json()["error"]
    not_a_link = {"done": True, "url": "javascript:alert(1)"}
    assert http.post(path("/postmortem"), json=not_a_link, headers=bearer()).status_code == 400
    not_done = {"done": False, "url": "https://wiki.example.com/pm/42"}
    assert http.post(path("/postmortem"), json=not_done, headers=bearer()).status_code == 400

    harness.clock.advance(timedelta(days=3))
    assert http.get(path("/postmortem"), headers=bearer()).json()["overdue"] is True
    body = {"done": True, "url": "https://wiki.example.com/pm/42", "by": "jane"}
    answer = http.post(path("/postmortem"), json=body, headers=bearer())
    assert answer.status_code == 200
    done = answer.json()
    assert (done["done"], done["overdue"], done["url"], done["done_by"]) == (
        True,
        False,
        "https://wiki.example.com/pm/42",
        "jane",
    )
    draft = http.get(path("/postmortem.md"), headers=bearer()).text
    assert "Status: done: https://wiki.example.com/pm/42 (marked by jane at" in draft


def test_no_postmortem_is_a_404_that_says_why(app: App):
    http, harness, _ = app
    open_incident(harness, key="search-slow:service=search", severity="SEV3")
    harness.ctx.store.resolve("search-slow:service=search", "jane", "", harness.clock.now)
    harness.run_due()
    for key in ("search-slow:service=search", "nope:x"):
        answer = http.get(path("/postmortem.md", key), headers=bearer())
        assert answer.status_code == 404
        assert "postmortem.severities" in answer.json()["error"]
    assert http.get(path("/postmortem.md"), headers={}).status_code == 401


def test_cli_prints_the_draft_and_marks_it_done(app: App, capsys: pytest.CaptureFixture[str]):
    http, harness, _ = app
    resolved_sev1(http, harness)
    with served(http.app) as url:
        assert run_cli(url, KEY) == 0
        assert capsys.readouterr().out == http.get(path("/postmortem.md"), headers=bearer()).text
        assert run_cli(url, KEY, "--done") == 2
        assert "--done needs --link" in capsys.readouterr().err
        assert run_cli(url, KEY, "--done", "--link", "https://wiki/pm/42", "--by", "jane") == 0
        assert capsys.readouterr().out == f"postmortem of {KEY} marked done: https://wiki/pm/42\n"
        assert run_cli(url, KEY, "--state") == 0
        assert json.loads(capsys.readouterr().out)["done"] is True
        assert run_cli(url, "nope:x") == 1
        assert "404: no postmortem for incident 'nope:x'" in capsys.readouterr().err


def run_cli(url: str, *argv: str) -> int:
    args = build_parser().parse_args(["incidents", "--url", url, "postmortem", *argv])
    status: int = args.func(args, Settings(api_token=API_TOKEN))  # type: ignore[arg-type]
    return status
