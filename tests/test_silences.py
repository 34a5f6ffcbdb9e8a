from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from core.silences import RETENTION, SilenceError, SilenceStore, check_matchers

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CHECKOUT = {"service": "checkout", "environment": "production", "severity": "SEV1"}


@pytest.fixture
def store(redis_client: redis.Redis, key_prefix: str) -> SilenceStore:
    return SilenceStore(redis_client, key_prefix)


def add(store: SilenceStore, *matchers: str, start: timedelta = timedelta(0), hours: float = 2):
    return store.create(
        list(matchers or ['service="checkout"']),
        T0 + start,
        T0 + start + timedelta(hours=hours),
        "deploying the new checkout",
        "jane",
        T0,
    )


def test_an_active_silence_mutes_matching_alerts_until_it_ends(store: SilenceStore):
    silence = add(store, 'service="checkout"', 'environment=~"prod|production"')
    assert store.active(CHECKOUT, T0) == silence
    assert store.active({**CHECKOUT, "service": "search"}, T0) is None
    assert store.active(CHECKOUT, T0 + timedelta(hours=2)) is None
    assert silence.state(T0 + timedelta(hours=2)) == "expired"
    assert silence.matchers == ('service="checkout"', 'environment=~"prod|production"')


def test_a_maintenance_window_starts_in_the_future(store: SilenceStore):
    window = add(store, start=timedelta(days=1), hours=1)
    assert window.state(T0) == "pending"
    assert store.active(CHECKOUT, T0) is None
    assert store.active(CHECKOUT, T0 + timedelta(days=1, minutes=1)) == window
    assert store.list(T0, state="pending") == [window]


def test_expire_ends_a_silence_now_and_is_safe_to_repeat(store: SilenceStore):
    silence = add(store)
    later = T0 + timedelta(minutes=10)
    expired = store.expire(silence.id, later)
    assert expired is not None
    assert expired.ends_at == later
    assert expired.state(later) == "expired"
    assert store.active(CHECKOUT, later) is None
    assert store.expire(silence.id, later + timedelta(minutes=1)) == expired
    assert store.expire("no-such-id", later) is None


def test_expiring_a_pending_window_means_it_never_starts(store: SilenceStore):
    window = add(store, start=timedelta(days=1))
    expired = store.expire(window.id, T0)
    assert expired is not None
    assert expired.state(T0 + timedelta(days=1, minutes=5)) == "expired"


def test_the_silence_ending_last_wins(store: SilenceStore):
    add(store, hours=1)
    longer = add(store, 'severity="SEV1"', hours=3)
    assert store.active(CHECKOUT, T0) == longer


def test_start_in_the_past_means_now(store: SilenceStore):
    silence = store.create(
        ['service="x"'], T0 - timedelta(hours=1), T0 + timedelta(hours=1), "", "a", T0
    )
    assert silence.starts_at == T0


@pytest.mark.parametrize(
    ("matchers", "start", "end", "message"),
    [
        ([], T0, T0 + timedelta(hours=1), "needs at least one matcher"),
        (["service=checkout"], T0, T0 + timedelta(hours=1), None),
        (['service=~"("'], T0, T0 + timedelta(hours=1), "invalid regex"),
        (['service=~".*"'], T0, T0 + timedelta(hours=1), "would mute every alert"),
        (['service!="x"'], T0, T0 + timedelta(hours=1), "would mute every alert"),
        (['service="x"'], T0 + timedelta(hours=1), T0, "must be after starts_at"),
        (['service="x"'], T0 - timedelta(hours=2), T0 - timedelta(hours=1), "in the future"),
        (['service="x"'], T0, T0 + timedelta(days=91), "at most 90 days"),
    ],
)
def test_bad_silences_are_refused_with_the_reason(
    store: SilenceStore, matchers: list[str], start: datetime, end: datetime, message: str | None
):
    if message is None:  # unquoted values are valid Alertmanager syntax
        assert store.create(matchers, start, end, "", "a", T0).matchers == ('service="checkout"',)
        return
    with pytest.raises(SilenceError, match=message):
        store.create(matchers, start, end, "", "a", T0)
    assert store.list(T0) == []


def test_old_expired_silences_are_pruned_on_create(store: SilenceStore):
    old = add(store, hours=1)
    much_later = T0 + RETENTION + timedelta(hours=2)
    fresh = store.create(
        ['service="x"'], much_later, much_later + timedelta(hours=1), "", "a", much_later
    )
    assert store.get(old.id) is None
    assert store.list(much_later) == [fresh]


def test_check_matchers_normalizes_the_spelling():
    assert check_matchers(['service = "a\\"b"']) == ('service="a\\"b"',)
