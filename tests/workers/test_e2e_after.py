"""After the page, end to end with real processes: a SEV1 with the incident channel on is
acknowledged, updated, resolved; its postmortem draft agrees with the API's record, its
deadline reminders come until it is marked done, and its channel is then archived.

Real time, so the rules make the deadlines seconds long (`due: 2s`, `archive_after: 1s`):
every wait is on a condition, with a generous timeout for a loaded machine.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fakes.vendors import FakePagerDuty, FakeSlack, fake_pagerduty, fake_slack
from tests.workers.e2e import RULES, System, alertmanager_body, eventually

pytestmark = pytest.mark.slow
__all__ = ["fake_pagerduty", "fake_slack"]  # fixtures

KEY = "checkout:service=checkout"
API_TOKEN = "api-token-e2e"
WAIT = 60.0  # seconds: a loaded 2-core machine, and a reminder sweep every 10 s
AFTER = """
postmortem:
  severities: [SEV1]
  due: 2s
slack:
  incident_channel:
    severities: [SEV1]
    name: "inc-{service}-{id}"
    invite: [U0LEAD]
    archive_after: 1s
"""


@pytest.fixture
def gw(processes: System) -> System:
    processes.rules.write_text(RULES.format(wait="1h", severity="SEV1") + AFTER)
    processes.env["ALERTGW_API_TOKEN"] = API_TOKEN
    processes.start_gateway()
    processes.start_worker()
    return processes


def api(gw: System, method: str, tail: str, body: dict[str, Any] | None = None) -> httpx.Response:
    url = f"{gw.gateways[0]}/api/v1/incidents/{quote(KEY, safe='')}{tail}"
    headers = {"authorization": f"Bearer {API_TOKEN}"}
    return httpx.request(method, url, json=body, headers=headers, timeout=10)


def texts(slack: FakeSlack, **where: str) -> list[str]:
    return [str(m.get("text", "")) for m in slack.messages(**where)]


def test_a_resolved_sev1_gets_its_channel_draft_reminders_and_archive(
    gw: System, fake_pagerduty: FakePagerDuty, fake_slack: FakeSlack
):
    assert gw.post(alertmanager_body("f1")) == 202
    fake_pagerduty.wait_for_events(1, "trigger", timeout=WAIT)
    root = eventually(lambda: fake_slack.roots(channel="#incidents"), timeout=WAIT)[0]
    assert root["text"].startswith("INCIDENT DETECTED")
    root_ts = _root_ts(fake_slack)
    conversations = fake_slack.conversations
    channel = eventually(lambda: next(iter(conversations.channels.values()), None), WAIT)
    assert channel.name.startswith("inc-checkout-")
    eventually(lambda: channel.pins, timeout=WAIT)
    assert channel.members == ["U0LEAD"]
    link = f"Incident channel: <#{channel.id}|{channel.name}>"
    eventually(lambda: link in texts(fake_slack, thread_ts=root_ts), timeout=WAIT)

    assert api(gw, "POST", "/ack", {"by": "jane"}).status_code == 200
    update = {"status": "Mitigating", "text": "rolled back", "by": "jane"}
    assert api(gw, "POST", "/updates", update).status_code == 201
    eventually(
        lambda: any(t.startswith("INCIDENT UPDATE") for t in texts(fake_slack, thread_ts=root_ts)),
        timeout=WAIT,
    )
    eventually(
        lambda: any("Status: Mitigating" in u["text"] for u in fake_slack.updates(ts=root_ts)),
        timeout=WAIT,
    )

    assert gw.post(alertmanager_body("f1", status="resolved")) == 202
    fake_pagerduty.wait_for_events(1, "resolve", timeout=WAIT)
    eventually(
        lambda: any(t.startswith("Postmortem due") for t in texts(fake_slack, thread_ts=root_ts)),
        timeout=WAIT,
    )
    record = api(gw, "GET", "").json()
    draft = api(gw, "GET", "/postmortem.md").text
    assert f"Incident `{KEY}` (SEV1)" in draft
    acked = next(e for e in record["timeline"] if e["kind"] == "acknowledged")
    assert f"| Acknowledged | {_utc(acked['at'])} by jane |" in draft
    expected = [
        f"| {_utc(e['at'])} | {e['kind'].replace('_', ' ')} | {e['text']} |"
        for e in record["timeline"]
    ]
    section = draft.split("## Timeline\n")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| 20")]
    assert rows[: len(expected)] == expected  # reminders may have added lines since

    # due 2 s after resolve: the overdue reminder, in the thread and the channel
    def overdue() -> bool:
        said = texts(fake_slack, thread_ts=root_ts) + texts(fake_slack, channel=channel.id)
        return sum(t.startswith("Postmortem overdue") for t in said) >= 2

    eventually(overdue, timeout=WAIT)
    assert not channel.archived  # archive_after passed, but the postmortem is pending
    done = {"done": True, "url": "https://wiki.example.com/pm/1", "by": "jane"}
    assert api(gw, "POST", "/postmortem", done).json()["done"] is True
    members = [m.decode() for m in gw.redis.zrange(f"{gw.prefix}reminders", 0, -1)]
    assert [m for m in members if m.startswith("pm:")] == []  # no reminder after done
    eventually(lambda: channel.archived, timeout=WAIT)


def _root_ts(slack: FakeSlack) -> str:
    roots = slack.roots(channel="#incidents")
    assert roots, "no root message"
    posted = [r for r in slack.requests if r.path == "/api/chat.postMessage" and r.body in roots]
    return str(posted[0].reply["ts"])


def _utc(at: str) -> str:
    return at[:19].replace("T", " ")
