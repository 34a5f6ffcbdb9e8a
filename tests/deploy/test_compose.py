"""docker-compose.yml: gateway and worker on a Redis 7 with AOF, rules mounted from ./rules."""

from __future__ import annotations

from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.deploy.chart import REPO

COMPOSE = REPO / "docker-compose.yml"
SECRET_NAMES = (
    "ALERTGW_SENTRY_CLIENT_SECRET",
    "ALERTGW_SENTRY_LEGACY_TOKEN",
    "ALERTGW_VERCEL_SECRET",
    "ALERTGW_ALERTMANAGER_TOKEN",
    "ALERTGW_DATADOG_TOKEN",
    "ALERTGW_PAGERDUTY_WEBHOOK_SECRET",
    "ALERTGW_SLACK_SIGNING_SECRET",
    "ALERTGW_SLACK_BOT_TOKEN",
    "ALERTGW_API_TOKEN",
    "SENTRY_DSN",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text())
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment; a bare NAME (passed through from the shell) maps to None."""
    entries = service["environment"]
    if isinstance(entries, dict):
        return dict(entries)
    parsed: dict[str, str | None] = {}
    for entry in entries:
        name, equals, value = entry.partition("=")
        parsed[name] = value if equals else None
    return parsed


def test_redis_is_7_with_an_append_only_file_fsynced_every_second(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    volume, _, path = redis["volumes"][0].partition(":")
    assert path == "/data"
    assert volume in compose["volumes"]


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_alertgw_services_read_rules_from_the_repository(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    source, target, mode = service["volumes"][0].split(":")
    assert source == "./rules"
    assert (REPO / "rules").is_dir()
    assert target == environment(service)["ALERTGW_RULES"]
    assert mode == "ro"


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_alertgw_services_wait_for_a_healthy_redis(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert environment(service)["ALERTGW_REDIS_URL"] == "redis://redis:6379/0"
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"gateway", "worker", "redis"}
    assert "/readyz" in " ".join(services["gateway"]["healthcheck"]["test"])
    # workers have no /healthz; their metrics endpoint answering is the sign of life
    assert "9108/metrics" in " ".join(services["worker"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][-1] == "ping"


def test_commands_pick_gateway_or_worker(compose: dict[str, Any]) -> None:
    assert compose["services"]["gateway"]["command"] == ["serve"]
    assert compose["services"]["worker"]["command"] == ["worker"]


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_secrets_pass_through_from_the_shell_and_are_never_written_here(
    compose: dict[str, Any], name: str
) -> None:
    variables = environment(compose["services"][name])
    for secret in SECRET_NAMES:
        assert secret in variables, secret
        assert variables[secret] is None, f"{secret} has a value in docker-compose.yml"
