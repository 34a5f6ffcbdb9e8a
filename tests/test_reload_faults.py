"""Rules hot reload under fire: broken rule sets never replace the last good one.

Webhooks keep flowing between reloads and are classified by the last good rules; a
catastrophic regex cannot stall classification (RE2 is linear); SIGHUP reloads a real
`alertgw serve` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from core.settings import Settings
from gateway.app import create_app
from tests.conftest import REPO, payload

TOKEN, API_TOKEN = "am-token", "api-token"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
API = {"authorization": f"Bearer {API_TOKEN}"}
GOOD = """\
version: 1
targets:
  incidents: {slack: {channel: "#incidents"}}
escalations:
  chat: {steps: [{notify: [incidents]}]}
rules:
  - name: checkout-down
    matchers: ['service="checkout"']
    severity: SEV1
    escalation: chat
default: {severity: SEV3, escalation: chat}
"""
BROKEN = {
    "yaml syntax": GOOD.replace("rules:\n", "rules:\n  - name: [unclosed\n"),
    "unknown key": GOOD.replace("severity: SEV1", "severity: SEV1\n    colour: red"),
    "bad severity": GOOD.replace("severity: SEV1", "severity: SEV0"),
    "unknown escalation": GOOD.replace("escalation: chat\ndefault", "escalation: nope\ndefault"),
    "bad regex": GOOD.replace("""'service="checkout"'""", """'service=~"(unclosed"'"""),
    "duplicate key": GOOD.replace("severity: SEV1", "severity: SEV1\n    severity: SEV2"),
    "empty file": "",
    "not a mapping": "- just\n- a list\n",
    "unset variable": GOOD.replace("#incidents", "${ALERTGW_TEST_SURELY_UNSET}"),
}
# (a+)+$ backtracks exponentially in a backtracking engine on "aaaa...!"; RE2 is linear
CATASTROPHIC = GOOD.replace("""'service="checkout"'""", """'alertname=~"(a+)+$"'""")


def alertmanager_body(**labels: str) -> bytes:
    document = json.loads(payload("alertmanager", "firing_checkout.json"))
    for alert in document["alerts"]:
        alert["labels"].update(labels)
    return json.dumps(document).encode()


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules" / "rules.yaml"
    path.parent.mkdir()
    path.write_text(GOOD)
    return path


@pytest.fixture
def client(redis_url: str, key_prefix: str, rules_file: Path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url,
        redis_prefix=key_prefix,
        rules=rules_file.parent,
        alertmanager_token=TOKEN,
        api_token=API_TOKEN,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def severities(client: TestClient, body: bytes) -> set[str]:
    response = client.post("/webhooks/alertmanager", content=body, headers=AUTH)
    assert response.status_code == 202, response.text
    return {alert["severity"] for alert in response.json()["alerts"]}


def test_broken_rule_sets_are_rejected_while_webhooks_keep_flowing(
    client: TestClient, rules_file: Path
) -> None:
    checkout = payload("alertmanager", "firing_checkout.json")
    for name, text in BROKEN.items():
        rules_file.write_text(text)
        response = client.post("/-/reload", headers=API)
        assert response.status_code == 422, name
        assert response.json()["problems"], name
        # the last good rules still classify, between every broken reload
        assert severities(client, checkout) == {"SEV1"}, name
        assert "alertgw_rules_last_reload_success 0.0" in client.get("/metrics").text

    rules_file.write_text(GOOD.replace("severity: SEV1", "severity: SEV2"))
    assert client.post("/-/reload", headers=API).json() == {"reloaded": True, "rules": 1}
    assert severities(client, checkout) == {"SEV2"}
    assert "alertgw_rules_last_reload_success 1.0" in client.get("/metrics").text


def test_a_catastrophic_regex_classifies_a_hostile_label_at_once(
    client: TestClient, rules_file: Path
) -> None:
    rules_file.write_text(CATASTROPHIC)
    assert client.post("/-/reload", headers=API).status_code == 200
    # 200 000 a's and a mismatch at the end: a backtracking engine would not finish
    # this within the age of the universe; the request below must simply complete
    hostile = alertmanager_body(alertname="a" * 200_000 + "!")
    assert severities(client, hostile) == {"SEV3"}
    assert severities(client, alertmanager_body(alertname="a" * 200_000)) == {"SEV1"}


# --- a real process -----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rules_count(url: str) -> int | None:
    try:
        answer = httpx.get(f"{url}/readyz", timeout=1).json()
    except httpx.HTTPError:
        return None
    return int(answer["rules"]) if "rules" in answer else None


def wait_for(predicate: object, timeout: float = 15.0) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_sighup_reloads_a_running_alertgw_serve(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    # The rules path is a symlink out of the watched folder: editing the target is
    # invisible to the file watcher, so only the signal can load the change.
    real = tmp_path / "elsewhere" / "rules.yaml"
    real.parent.mkdir()
    real.write_text(GOOD)
    watched = tmp_path / "watched"
    watched.mkdir()
    (watched / "rules.yaml").symlink_to(real)
    port = free_port()
    env = {
        **os.environ,
        "ALERTGW_REDIS_URL": redis_url,
        "ALERTGW_REDIS_PREFIX": key_prefix,
        "ALERTGW_RULES": str(watched / "rules.yaml"),
        "ALERTGW_ALERTMANAGER_TOKEN": TOKEN,
        "ALERTGW_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "alertgw.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: rules_count(url) == 1), "alertgw serve did not come up"

        real.write_text(BROKEN["unknown key"])
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "alertgw_rules_last_reload_success 0.0" in metrics(url))
        assert process.poll() is None  # a bad reload does not stop the gateway
        assert rules_count(url) == 1

        two_rules = GOOD.replace(
            "default:",
            "  - {name: extra, matchers: ['service=\"cart\"'], severity: SEV2, escalation: chat}\n"
            "default:",
        )
        real.write_text(two_rules)
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: rules_count(url) == 2), "SIGHUP did not reload the rules"
        body = alertmanager_body(service="cart", alertname="CartBroken")
        answer = httpx.post(f"{url}/webhooks/alertmanager", content=body, headers=AUTH)
        assert answer.status_code == 202
        assert {a["rule"] for a in answer.json()["alerts"]} == {"extra"}
    finally:
        process.terminate()
        process.wait(timeout=15)


def metrics(url: str) -> str:
    try:
        return httpx.get(f"{url}/metrics", timeout=1).text
    except httpx.HTTPError:
        return ""
