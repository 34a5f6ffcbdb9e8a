"""Status updates in the plan's template: the reminder's INCIDENT UPDATE block, and an
update posted through `POST /api/v1/incidents/{key}/updates`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import redis
from starlette.testclient import TestClient

from tests.api.operator import KEY, bearer, open_incident, operator_app
from tests.workers.conftest import Harness
from tests.workers.helpers import T0, entry, hand_off

App = tuple[TestClient, Harness, Any]


@pytest.fixture
def app(redis_client: redis.Redis, key_prefix: str):
    with operator_app(redis_client, key_prefix) as parts:
        yield parts


def updates_path(key: str = KEY) -> str:
    return f"/api/v1/incidents/{quote(key, safe='')}/updates"


def at(h: Harness, minutes: int) -> None:
    h.clock.now = T0 + timedelta(minutes=minutes)
    h.run_due()


def thread(h: Harness, action: str) -> list[str]:
    return [n.text for n in h.slack.sent if n.action == action]


def post(http: TestClient, status: str, text: str, by: str = "jane") -> Any:
    body = {"status": status, "text": text, "by": by}
    return http.post(updates_path(), json=body, headers=bearer())


def test_the_reminder_posts_the_plans_template(app: App):
    http, harness, _ = app
    open_incident(harness)
    http.post(
        f"/api/v1/incidents/{quote(KEY, safe='')}/notes",
        json={"by": "joe", "note": "paging the payments team"},
        headers=bearer(),
    )
    at(harness, 15)
    assert thread(harness, "status_update_due") == [
        "Status update due (SEV1: every 15m)\n"
        "INCIDENT UPDATE\n"
        "Time: 2026-03-02 10:15 UTC\n"
        "Severity: SEV1\n"
        "Status: Investigating\n"
        "Impact: 5xx above 5%\n"
        "Next Update: 2026-03-02 10:30 UTC\n"
        "Actions Taken:\n"
        "- 2026-03-02 10:00 UTC joe: paging the payments team"
    ]


def test_a_posted_update_goes_to_the_thread_edits_the_root_and_resets_the_clock(app: App):
    http, harness, _ = app
    open_incident(harness)
    at(harness, 20)  # the 10:15 reminder went out
    answer = post(http, "Mitigating", "rolled back deploy 512")
    assert answer.status_code == 201
    assert answer.json()["key"] == KEY
    harness.run_due()
    posted = [n for n in harness.slack.sent if n.action == "status_update"]
    assert [n.text for n in posted] == [
        "INCIDENT UPDATE\n"
        "Time: 2026-03-02 10:20 UTC\n"
        "Severity: SEV1\n"
        "Status: Mitigating\n"
        "Impact: 5xx above 5%\n"
        "Next Update: 2026-03-02 10:35 UTC\n"
        "Actions Taken:\n"
        "- 2026-03-02 10:20 UTC jane: [Mitigating] rolled back deploy 512"
    ]
    assert posted[0].incident.posted_status == "Mitigating"  # the root's Status
    assert [n.target.name for n in posted] == ["incidents"]
    kinds = [e.kind for e in harness.ctx.store.timeline(KEY)]
    assert "status_update" in kinds

    at(harness, 30)  # the reminder due at 10:30 now waits for 10:35
    assert len(thread(harness, "status_update_due")) == 1
    at(harness, 35)
    reminder = thread(harness, "status_update_due")[-1]
    assert "Status: Mitigating\n" in reminder
    assert "Next Update: 2026-03-02 10:50 UTC\n" in reminder


def test_two_updates_in_a_row_both_go_out(app: App):
    http, harness, _ = app
    open_incident(harness)
    at(harness, 5)
    assert post(http, "Mitigating", "failing over").status_code == 201
    assert post(http, "Monitoring", "failed over, watching").status_code == 201
    harness.run_due()
    sent = thread(harness, "status_update")
    assert [t.split("\n")[3] for t in sent] == ["Status: Mitigating", "Status: Monitoring"]
    assert sent[-1].endswith(
        "- 2026-03-02 10:05 UTC jane: [Mitigating] failing over\n"
        "- 2026-03-02 10:05 UTC jane: [Monitoring] failed over, watching"
    )


def test_bad_updates_are_refused_with_a_clear_error(app: App):
    http, harness, _ = app
    assert post(http, "Mitigating", "x").status_code == 404
    open_incident(harness)
    wrong = post(http, "Fixed", "x")
    assert wrong.status_code == 400
    assert "status" in wrong.json()["error"]
    empty = post(http, "Mitigating", "")
    assert empty.status_code == 400
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    gone = post(http, "Monitoring", "x")
    assert gone.status_code == 409
    assert gone.json() == {"error": f"incident {KEY!r} is resolved; updates need a live one"}


def test_a_key_that_opens_again_starts_from_investigating(app: App):
    http, harness, _ = app
    open_incident(harness)
    assert post(http, "Monitoring", "looks good").status_code == 201
    harness.ctx.store.resolve(KEY, "jane", "", harness.clock.now)
    harness.run_due()
    at(harness, 10)
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry(received_at=harness.clock.now))
    harness.run_due()
    at(harness, 25)
    reminder = thread(harness, "status_update_due")[-1]
    assert "Status: Investigating\n" in reminder
    assert reminder.endswith("Actions Taken:\n- none recorded yet")
