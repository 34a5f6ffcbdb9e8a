"""What Slack receives: the INCIDENT DETECTED root, thread replies, root edits, webhooks."""

from __future__ import annotations

import pytest
import redis

from core.rules.model import SlackTarget, Target
from tests.fakes.vendors import TEST_BOT_TOKEN, FakeSlack
from tests.workers.notifiers.factories import (
    INCIDENTS,
    ONCALL,
    FakeClock,
    incident,
    notify,
    webhook_target,
)
from workers.notifiers.base import Metered, PermanentError, RetryableError, ThreadRef
from workers.notifiers.ratelimit import RateLimiter
from workers.notifiers.slack import SlackNotifier
from workers.notifiers.slack_messages import escape, fallback_text

KEY = "checkout-down:service=checkout,environment=production"


@pytest.fixture
def notifier(fake_slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(fake_slack.api_url, TEST_BOT_TOKEN, timeout=2.0)


def root(notifier: SlackNotifier) -> ThreadRef:
    thread = notifier.send(notify(INCIDENTS)).thread
    assert thread is not None
    return thread


def test_trigger_posts_the_incident_message_with_buttons(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    thread = root(notifier)
    (message,) = fake_slack.messages()
    assert thread == ThreadRef(FakeSlack.channel_id("#incidents"), thread.ts)
    assert message["channel"] == "#incidents"
    assert message["text"] == (
        "INCIDENT DETECTED\nSeverity: SEV1\nImpact: 5xx ratio above 5% for 10m\n"
        "Status: Investigating\nLead: unassigned\n"
        "Source: alertmanager https://prometheus.example.com/graph"
    )
    header, section, context, actions = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "INCIDENT DETECTED"}}
    assert section["text"]["text"] == "*HighErrorRate*\ncheckout, production"
    assert [f["text"] for f in section["fields"]] == [
        "*Severity*\nSEV1",
        "*Impact*\n5xx ratio above 5% for 10m",
        "*Status*\nInvestigating",
        "*Lead*\nunassigned",
        "*Source*\nalertmanager <https://prometheus.example.com/graph|Prometheus>",
    ]
    assert context["elements"][0]["text"] == (f"Incident `{KEY}` · rule `checkout-down` · 2 alerts")
    assert actions["block_id"] == "incident_actions:v3:open"
    ack, resolve = actions["elements"]
    assert (ack["action_id"], ack["style"], ack["value"]) == ("incident_ack", "primary", KEY)
    assert (resolve["action_id"], resolve["style"], resolve["value"]) == (
        "incident_resolve",
        "danger",
        KEY,
    )
    assert resolve["confirm"]["confirm"]["text"] == "Resolve"
    assert fake_slack.requests[0].headers["authorization"] == f"Bearer {TEST_BOT_TOKEN}"


def test_acknowledge_edits_the_root_then_replies_in_its_thread(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    thread = root(notifier)
    receipt = notifier.send(
        notify(
            INCIDENTS,
            "acknowledge",
            text="Acknowledged by jane (Slack)",
            thread=thread,
            status="acknowledged",
            lead="jane",
            version=4,
        )
    )
    assert receipt.thread == thread
    (update,) = fake_slack.updates(ts=thread.ts)
    assert update["channel"] == thread.channel
    fields = [f["text"] for f in update["blocks"][1]["fields"]]
    assert "*Status*\nAcknowledged" in fields
    assert "*Lead*\njane" in fields
    actions = update["blocks"][-1]
    assert actions["block_id"] == "incident_actions:v4:acknowledged"
    assert [b["action_id"] for b in actions["elements"]] == ["incident_resolve"]
    (reply,) = fake_slack.messages(thread_ts=thread.ts)
    assert reply["text"] == "Acknowledged by jane (Slack)"
    assert [r.path for r in fake_slack.requests][1:] == [
        "/api/chat.update",
        "/api/chat.postMessage",
    ]


def test_resolve_removes_the_buttons(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    thread = root(notifier)
    notifier.send(notify(INCIDENTS, "resolve", thread=thread, status="resolved"))
    (update,) = fake_slack.updates()
    assert [b["type"] for b in update["blocks"]] == ["header", "section", "context"]
    assert "Status: Resolved" in update["text"]
    assert fake_slack.messages(thread_ts=thread.ts)[0]["text"] == "Resolved"


def test_severity_raised_shows_the_new_severity(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    thread = root(notifier)
    notifier.send(notify(INCIDENTS, "severity_raised", thread=thread, severity="SEV1"))
    assert "*Severity*\nSEV1" in [f["text"] for f in fake_slack.updates()[0]["blocks"][1]["fields"]]
    assert fake_slack.messages(thread_ts=thread.ts)[0]["text"] == "Severity raised to SEV1"


@pytest.mark.parametrize("action", ["escalate", "status_update_due", "note"])
def test_other_updates_are_thread_replies_only(
    notifier: SlackNotifier, fake_slack: FakeSlack, action: str
) -> None:
    thread = root(notifier)
    notifier.send(notify(INCIDENTS, action, text=f"{action} <here> & now", thread=thread))  # type: ignore[arg-type]
    assert fake_slack.updates() == []
    (reply,) = fake_slack.messages(thread_ts=thread.ts)
    assert reply["text"] == f"{action} <here> & now"
    assert reply["blocks"][0]["text"]["text"] == f"{action} &lt;here&gt; &amp; now"


@pytest.mark.parametrize(
    ("action", "button", "label"),
    [
        ("status_update_due", "incident_post_update", "Post update"),
        ("postmortem_due", "incident_postmortem_done", "Mark postmortem done"),
    ],
)
def test_reminders_carry_the_button_that_answers_them(
    notifier: SlackNotifier, fake_slack: FakeSlack, action: str, button: str, label: str
) -> None:
    thread = root(notifier)
    notifier.send(notify(INCIDENTS, action, text="due", thread=thread))  # type: ignore[arg-type]
    (reply,) = fake_slack.messages(thread_ts=thread.ts)
    (element,) = reply["blocks"][-1]["elements"]
    assert (element["action_id"], element["text"]["text"], element["value"]) == (
        button,
        label,
        KEY,
    )


def test_a_posted_update_edits_the_roots_status(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    thread = root(notifier)
    block = "INCIDENT UPDATE\nStatus: Mitigating"
    notifier.send(
        notify(INCIDENTS, "status_update", text=block, thread=thread, posted_status="Mitigating")
    )
    (update,) = fake_slack.updates(ts=thread.ts)
    assert "Status: Mitigating" in update["text"]
    assert "*Status*\nMitigating" in [f["text"] for f in update["blocks"][1]["fields"]]
    assert fake_slack.messages(thread_ts=thread.ts)[0]["text"] == block


def test_refresh_edits_the_root_in_place_and_posts_nothing(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    thread = root(notifier)
    receipt = notifier.send(notify(INCIDENTS, "refresh", thread=thread, title="Alert storm: 40"))
    assert receipt.sent
    (update,) = fake_slack.updates(ts=thread.ts)
    assert update["blocks"][1]["text"]["text"].startswith("*Alert storm: 40*")
    assert fake_slack.messages(thread_ts=thread.ts) == []
    assert [r.path for r in fake_slack.requests][1:] == ["/api/chat.update"]


def test_refresh_without_a_root_or_to_a_webhook_sends_nothing(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    assert not notifier.send(notify(INCIDENTS, "refresh")).sent
    assert not notifier.send(notify(webhook_target(fake_slack.webhook_url), "refresh")).sent
    assert fake_slack.requests == []


def test_an_update_without_a_thread_posts_the_whole_message_as_a_new_root(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    receipt = notifier.send(notify(INCIDENTS, "resolve", status="resolved"))
    (message,) = fake_slack.roots()
    assert receipt.thread is not None
    assert receipt.thread.ts == fake_slack.requests[0].reply["ts"]
    assert message["text"].startswith("Resolved\nINCIDENT DETECTED")
    assert "Status: Resolved" in message["text"]


def test_webhook_targets_post_without_buttons_or_threads(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    target = webhook_target(fake_slack.webhook_url)
    assert notifier.send(notify(target)).thread is None
    notifier.send(notify(target, "resolve", thread=ThreadRef("C1", "1.1"), status="resolved"))
    first, second = fake_slack.webhook_posts()
    assert first["text"] == fallback_text(incident())
    assert "actions" not in [b["type"] for b in first["blocks"]]
    assert second["text"] == "Resolved · [SEV1] checkout: HighErrorRate"
    assert fake_slack.updates() == []
    assert "authorization" not in fake_slack.requests[0].headers  # the URL is the credential


@pytest.mark.parametrize(
    "error", ["channel_not_found", "not_in_channel", "invalid_auth", "is_archived", "msg_too_long"]
)
def test_slack_errors_that_retrying_cannot_fix_are_final(
    notifier: SlackNotifier, fake_slack: FakeSlack, error: str
) -> None:
    fake_slack.fail(error)
    with pytest.raises(PermanentError, match=error):
        notifier.send(notify(INCIDENTS))


def test_ratelimited_is_retried(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    fake_slack.fail("ratelimited")
    with pytest.raises(RetryableError, match="ratelimited"):
        notifier.send(notify(INCIDENTS))


def test_the_real_token_check_and_unknown_channels(fake_slack: FakeSlack) -> None:
    fake_slack.unknown_channels.add("#gone")
    wrong = SlackNotifier(fake_slack.api_url, "xoxb-wrong", timeout=2.0)
    with pytest.raises(PermanentError, match="invalid_auth"):
        wrong.send(notify(INCIDENTS))
    right = SlackNotifier(fake_slack.api_url, TEST_BOT_TOKEN, timeout=2.0)
    with pytest.raises(PermanentError, match="channel_not_found"):
        right.send(notify(Target("gone", slack=SlackTarget(channel="#gone"))))


def test_a_channel_target_without_a_bot_token_is_final(fake_slack: FakeSlack) -> None:
    with pytest.raises(PermanentError, match="no Slack bot token"):
        SlackNotifier(fake_slack.api_url, None).send(notify(INCIDENTS))
    assert fake_slack.requests == []


def test_handles_only_slack_targets(notifier: SlackNotifier) -> None:
    assert notifier.handles(INCIDENTS)
    assert not notifier.handles(ONCALL)


def test_escape_keeps_user_text_from_becoming_markup() -> None:
    assert escape("<!channel> a & b") == "&lt;!channel&gt; a &amp; b"


def test_a_full_channel_takes_the_most_severe_waiting_message_first(
    fake_slack: FakeSlack, redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(redis_client, key_prefix, "slack", 2, 60.0, clock)
    notifier = SlackNotifier(fake_slack.api_url, TEST_BOT_TOKEN, timeout=2.0, limiter=limiter)
    for key in ("a", "b"):
        notifier.send(notify(INCIDENTS, key=key, severity="SEV3"))
    sev3 = notify(INCIDENTS, key="c", severity="SEV3")
    sev1 = notify(INCIDENTS, key="d", severity="SEV1")
    for waiting in (sev3, sev1):  # the channel's minute is full: both wait, nothing sent
        with pytest.raises(Metered):
            notifier.send(waiting)
    clock.now += 61
    with pytest.raises(Metered):  # a slot is free, but the SEV1 waiting goes first
        notifier.send(sev3)
    notifier.send(sev1)
    clock.now += 61
    notifier.send(sev3)
    assert [m["text"].split("\n")[1] for m in fake_slack.messages()] == [
        "Severity: SEV3",
        "Severity: SEV3",
        "Severity: SEV1",
        "Severity: SEV3",
    ]


def test_an_incidents_replies_never_overtake_its_root(
    fake_slack: FakeSlack, redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(redis_client, key_prefix, "slack", 1, 60.0, clock)
    notifier = SlackNotifier(fake_slack.api_url, TEST_BOT_TOKEN, timeout=2.0, limiter=limiter)
    notifier.send(notify(INCIDENTS, key="earlier"))
    trigger = notify(INCIDENTS, key="k")
    with pytest.raises(Metered):
        notifier.send(trigger)
    clock.now += 61
    with pytest.raises(Metered):  # the incident's own root is waiting: it goes first
        notifier.send(notify(INCIDENTS, "note", text="checking", key="k"))
    thread = notifier.send(trigger).thread
    assert thread is not None
    assert len(fake_slack.messages()) == 2
