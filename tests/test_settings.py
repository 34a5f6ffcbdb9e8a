"""Settings: read from ALERTGW_* variables; a bad value names the variable, never a secret."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings


def test_defaults_match_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALERTGW_PORT", "ALERTGW_HOST", "ALERTGW_DELIVERY", "ALERTGW_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.delivery == "live"
    assert str(settings.pagerduty_events_url) == "https://events.pagerduty.com/"


def test_a_bad_value_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTGW_PORT", "eighty")
    with pytest.raises(SettingsError, match=r"^ALERTGW_PORT has value 'eighty': .*integer"):
        load_settings()


def test_an_unknown_delivery_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTGW_DELIVERY", "maybe")
    with pytest.raises(SettingsError, match=r"ALERTGW_DELIVERY has value 'maybe'"):
        load_settings()


def test_secret_lists_are_split_on_commas_for_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTGW_VERCEL_SECRET", " new-secret , old-secret ,")
    settings = load_settings()
    assert settings.secrets("vercel_secret") == ["new-secret", "old-secret"]
    assert "new-secret" not in repr(settings)


def test_sentry_dsn_comes_from_the_standard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "https://key@o1.ingest.sentry.io/1")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    settings = load_settings()
    assert settings.sentry_dsn is not None
    assert settings.sentry_environment == "production"
    assert "key@" not in repr(settings)


def test_the_claim_delay_defaults_to_30_seconds_and_must_be_positive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ALERTGW_CLAIM_IDLE_SECONDS", raising=False)
    assert load_settings().claim_idle_seconds == 30.0
    monkeypatch.setenv("ALERTGW_CLAIM_IDLE_SECONDS", "2.5")
    assert load_settings().claim_idle_seconds == 2.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("ALERTGW_CLAIM_IDLE_SECONDS", bad)
        with pytest.raises(SettingsError, match=rf"^ALERTGW_CLAIM_IDLE_SECONDS has value '{bad}'"):
            load_settings()
