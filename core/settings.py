"""Settings from `ALERTGW_*` environment variables, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, HttpUrl, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "ALERTGW_"


class SettingsError(Exception):
    """An environment variable has a value alertgw cannot use."""


class Settings(BaseSettings):
    """Everything alertgw reads from its environment. Secrets are `SecretStr`: never printed."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every key alertgw writes starts with this, so several deployments (or test runs)
    # can share one Redis without touching each other's keys.
    redis_prefix: str = Field(default="alertgw:", min_length=1)
    rules: Path = Path("rules")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    allow_unsigned: bool = False
    sentry_client_secret: SecretStr | None = None
    sentry_legacy_token: SecretStr | None = None
    vercel_secret: SecretStr | None = None
    alertmanager_token: SecretStr | None = None
    datadog_token: SecretStr | None = None
    pagerduty_webhook_secret: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    api_token: SecretStr | None = None
    # The console (/ui): a header a reverse proxy sets to the signed-in user's name
    # (e.g. X-Forwarded-User from oauth2-proxy); opt-in, trusted as is when set.
    ui_user_header: str | None = None
    # Signs the console's session and CSRF cookies; default: derived from the API token.
    ui_session_secret: SecretStr | None = None

    pagerduty_events_url: HttpUrl = HttpUrl("https://events.pagerduty.com")
    # events a minute per routing key alertgw sends at most (PagerDuty's limit: 120)
    pagerduty_limit_per_minute: int = Field(default=120, ge=1)
    slack_api_url: HttpUrl = HttpUrl("https://slack.com/api/")
    # messages a minute per Slack channel (or incoming webhook) alertgw sends at most;
    # Slack allows about one a second per channel, with short bursts
    slack_limit_per_minute: int = Field(default=60, ge=1)
    slack_bot_token: SecretStr | None = None
    delivery: Literal["live", "dry-run"] = "live"
    # Where people reach the gateway (https://alertgw.example.com): Slack messages link
    # postmortem drafts there. Unset, they name the API path and the CLI command instead.
    public_url: HttpUrl | None = None
    worker_metrics_port: int = Field(default=9108, ge=0, le=65535)
    # How long a hand-off entry or change read by a worker may stay unacknowledged before
    # another worker takes it over (the first is taken for dead). Keep it above the
    # longest a worker may hold one: an opening step's vendor calls (10 s timeout each).
    claim_idle_seconds: float = Field(default=30.0, gt=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    sentry_dsn: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SENTRY_DSN", "ALERTGW_SENTRY_DSN")
    )
    sentry_environment: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SENTRY_ENVIRONMENT", "ALERTGW_SENTRY_ENVIRONMENT"),
    )

    def secrets(self, field: str) -> list[str]:
        """The comma-separated values of a secret setting (several during a rotation)."""
        value = getattr(self, field)
        if value is None:
            return []
        assert isinstance(value, SecretStr), field
        return [part.strip() for part in value.get_secret_value().split(",") if part.strip()]


def env_name(field: str) -> str:
    """The environment variable behind a settings field."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return ENV_PREFIX + field.upper()


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a bad value raises SettingsError naming variable and value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        known = Settings.model_fields.get(field)
        name = env_name(field) if known else field
        # a secret's value is never echoed, not even when it is malformed
        secret = known is not None and "SecretStr" in str(known.annotation)
        shown = "<hidden>" if secret else repr(problem.get("input"))
        lines.append(f"{name} has value {shown}: {problem['msg']}")
    return "; ".join(lines)
