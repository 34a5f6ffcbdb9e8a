"""Self-monitoring: what reaches Sentry carries no secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from core.rules import load_policy
from core.sentry import FILTERED, RuleSecrets, Scrubber, Secrets, init_sentry
from core.settings import Settings
from tests.conftest import REPO

ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
WEBHOOK_URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"


class CapturingTransport(Transport):
    """Keeps every event instead of sending it."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                self.events.append(item.payload.json)


@pytest.fixture
def transport() -> Iterator[CapturingTransport]:
    settings = Settings(
        sentry_dsn="https://public@o1.ingest.sentry.io/1",  # type: ignore[arg-type]
        sentry_environment="test",
        api_token="super-secret-api-token",  # type: ignore[arg-type]
        slack_bot_token="xoxb-1234-5678-abcdefgh",  # type: ignore[arg-type]
    )
    assert init_sentry(settings, "gateway", extra_secrets=["routing-key-from-rules"])
    capture = CapturingTransport()
    client = sentry_sdk.get_client()
    client.transport = capture
    yield capture
    client.close()
    sentry_sdk.init()  # back to a disabled client


def test_no_secret_reaches_sentry(transport: CapturingTransport) -> None:
    try:
        raise RuntimeError(
            f"delivery failed: key={ROUTING_KEY} url={WEBHOOK_URL} "
            "token super-secret-api-token bot xoxb-1234-5678-abcdefgh routing-key-from-rules"
        )
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()

    (event,) = transport.events
    text = repr(event)
    secrets = (ROUTING_KEY, WEBHOOK_URL, "super-secret-api-token", "xoxb-1234", "routing-key-from")
    for secret in secrets:
        assert secret not in text
    assert FILTERED in event["exception"]["values"][0]["value"]
    assert event["environment"] == "test"
    assert event["release"].startswith("alertgw@")


def test_secret_headers_and_query_tokens_are_filtered() -> None:
    scrub = Scrubber(["rotating-secret"])
    event = scrub(
        {
            "request": {
                "url": "https://alertgw.example.com/webhooks/sentry?token=legacy-plugin-token",
                "headers": {"Sentry-Hook-Signature": "abc123", "Content-Type": "application/json"},
                "data": "body mentions rotating-secret",
            }
        },
        {},
    )
    assert event["request"]["headers"] == {
        "Sentry-Hook-Signature": FILTERED,
        "Content-Type": "application/json",
    }
    assert event["request"]["url"].endswith(f"?token={FILTERED}")
    assert event["request"]["data"] == f"body mentions {FILTERED}"


def test_without_a_dsn_nothing_is_initialised() -> None:
    assert not init_sentry(Settings(), "worker")


def test_a_routing_key_a_rules_reload_added_is_scrubbed_from_then_on() -> None:
    old_key, new_key = "a" * 24 + "old-key", "b" * 24 + "new-key"  # not 32-hex shaped
    rules = {"now": load_policy(REPO / "rules", environ={"PD_CTO_KEY": old_key})}
    scrub = Scrubber(Secrets(Settings(), RuleSecrets(lambda: rules["now"])))

    def message(text: str) -> str:
        event = scrub({"message": text}, {})
        return str(event["message"])

    assert message(f"paging with {old_key}") == f"paging with {FILTERED}"
    rules["now"] = load_policy(REPO / "rules", environ={"PD_CEO_KEY": new_key})  # the reload
    assert message(f"paging with {new_key}") == f"paging with {FILTERED}"
