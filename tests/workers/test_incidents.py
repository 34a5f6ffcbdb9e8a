from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import redis

from core.handoff import HandoffEntry, stream_key
from core.incidents.store import Applied, IncidentStore
from tests.workers.helpers import T0, entry

GROUP = "workers"


def apply(
    store: IncidentStore, e: HandoffEntry, minutes: float = 0, siblings: Sequence[str] = ()
) -> Applied:
    """Hand the entry off, read it through the group, and apply it at T0 + minutes."""
    client, stream = store.redis, stream_key(store.prefix, e.classification.severity)
    if not client.exists(stream):
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    entry_id = client.xadd(stream, {"e": e.model_dump_json()})
    client.xreadgroup(GROUP, "c1", {stream: ">"})
    moment = T0 + timedelta(minutes=minutes)
    return store.apply(e, stream, GROUP, entry_id.decode(), moment, siblings)


def make_store(redis_client: redis.Redis, key_prefix: str) -> IncidentStore:
    return IncidentStore(redis_client, key_prefix, timedelta(hours=1))


def changes(store: IncidentStore) -> list[tuple[str, int, str]]:
    rows = store.redis.xrange(store.changes_key)
    return [(f[b"action"].decode(), int(f[b"version"]), f[b"by"].decode()) for _, f in rows]


def test_first_alert_opens_an_incident_and_records_the_change(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    applied = apply(store, entry())
    assert (applied.outcome, applied.version, applied.severity) == ("opened", 1, "SEV1")
    incident = store.get("checkout-down:service=checkout")
    assert incident is not None
    assert (incident.status, incident.severity, incident.step, incident.alert_count) == (
        "open",
        "SEV1",
        -1,
        1,
    )
    assert incident.inc == applied.inc
    assert changes(store) == [("opened", 1, "")]
    assert [t.kind for t in store.timeline(incident.key)] == ["opened"]
    assert store.count_open(T0) == {"SEV1": 1, "SEV2": 0, "SEV3": 0, "SEV4": 0}
    # the hand-off entry is acknowledged and deleted in the same step
    assert redis_client.xlen(stream_key(key_prefix, "SEV1")) == 0


def test_duplicates_join_without_a_change(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    outcomes = [apply(store, entry(fingerprint=f"am:{i % 2}")).outcome for i in range(4)]
    assert outcomes == ["joined"] * 4
    incident = store.get("checkout-down:service=checkout")
    assert incident is not None
    assert incident.alert_count == 5
    assert incident.version == 1
    assert changes(store) == [("opened", 1, "")]
    assert [t.kind for t in store.timeline(incident.key)].count("joined") == 4


def test_an_entry_no_longer_pending_is_not_applied_twice(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    e = entry()
    stream = stream_key(key_prefix, "SEV1")
    redis_client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    entry_id = redis_client.xadd(stream, {"e": e.model_dump_json()}).decode()
    redis_client.xreadgroup(GROUP, "c1", {stream: ">"})
    assert store.apply(e, stream, GROUP, entry_id, T0).outcome == "opened"
    assert store.apply(e, stream, GROUP, entry_id, T0).outcome == "duplicate"
    assert len(changes(store)) == 1


def test_severity_is_raised_in_place(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry(severity="SEV3"))
    raised = apply(store, entry(fingerprint="am:2", severity="SEV1"), minutes=1)
    assert (raised.outcome, raised.version, raised.severity) == ("raised", 2, "SEV1")
    assert apply(store, entry(severity="SEV2"), minutes=2).outcome == "joined"
    incident = store.get("checkout-down:service=checkout")
    assert incident is not None
    assert incident.severity == "SEV1"
    assert store.count_open(T0)["SEV3"] == 0
    assert store.count_open(T0)["SEV1"] == 1
    assert changes(store)[-1] == ("severity_raised", 2, "")


def test_the_record_shows_the_alert_that_last_changed_it(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    key = "checkout-down:service=checkout"
    apply(store, entry(severity="SEV3", service="checkout"))
    apply(store, entry(fingerprint="am:2", severity="SEV1", service="payments"), minutes=1)
    raised = store.get(key)
    assert raised is not None
    assert (raised.service, raised.labels["service"], raised.step) == ("payments", "payments", -1)
    assert raised.step_at is None  # no step fired: the raise is no jump on the new path
    # the same severity firing again describes it; a less severe one only joins
    later = T0 + timedelta(minutes=2)
    apply(store, entry("am:3", severity="SEV1", service="cart", received_at=later), minutes=2)
    apply(store, entry(fingerprint="am:4", severity="SEV2", service="search"), minutes=3)
    latest = store.get(key)
    assert latest is not None
    assert (latest.service, latest.labels["service"], latest.alert_count) == ("cart", "cart", 4)
    assert (latest.received_at, latest.opened_at) == (T0, T0)  # first seen stays


def test_resolves_when_every_alert_resolves(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry(fingerprint="am:1"))
    apply(store, entry(fingerprint="am:2"))
    assert apply(store, entry(fingerprint="am:1", status="resolved")).outcome == "partial"
    assert apply(store, entry(fingerprint="am:9", status="resolved")).outcome == "ignored"
    done = apply(store, entry(fingerprint="am:2", status="resolved"), minutes=3)
    assert (done.outcome, done.version) == ("resolved", 2)
    incident = store.get("checkout-down:service=checkout")
    assert incident is not None
    assert incident.status == "resolved"
    assert incident.resolved_by == "source"
    assert changes(store)[-1] == ("resolve", 2, "source")
    assert store.count_open(T0)["SEV1"] == 0
    assert apply(store, entry(status="resolved")).outcome == "ignored"


def test_a_new_alert_after_resolve_opens_a_new_incarnation(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    first = apply(store, entry())
    apply(store, entry(status="resolved"))
    again = apply(store, entry(), minutes=10)
    assert again.outcome == "opened"
    assert again.inc != first.inc
    assert again.version == 3
    incident = store.get("checkout-down:service=checkout")
    assert incident is not None
    assert incident.status == "open"
    assert incident.alert_count == 1


def test_acknowledge_resolve_and_note(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    key = "checkout-down:service=checkout"
    assert store.acknowledge(key, "jane", "looking", T0) == 2
    assert store.acknowledge(key, "bob", "", T0) is None  # already acknowledged
    assert store.add_note(key, "jane", "rolled back", T0) == 2
    assert store.resolve(key, "jane", "", T0) == 3
    assert store.resolve(key, "jane", "", T0) is None
    assert store.acknowledge("no-such-incident", "jane", "", T0) is None
    incident = store.get(key)
    assert incident is not None
    assert incident.lead == "jane"
    assert incident.resolved_by == "jane"
    assert [c[0] for c in changes(store)] == ["opened", "acknowledge", "note", "resolve"]
    kinds = [(t.kind, t.text) for t in store.timeline(key)]
    assert kinds[1:] == [
        ("acknowledged", "jane: looking"),
        ("note", "jane: rolled back"),
        ("resolved", "jane"),
    ]


def test_claim_step_is_fenced_by_status_version_and_progress(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    key = "checkout-down:service=checkout"
    incident = store.get(key)
    assert incident is not None
    assert store.claim_step(incident, 1, 0, "step 1", T0)[:2] == (1, T0)
    later = T0 + timedelta(minutes=1)
    assert store.claim_step(incident, 1, 0, "step 1 again", later)[:2] == (2, T0)  # a re-run
    assert store.claim_step(incident, 7, 1, "wrong version", later)[:2] == (0, None)
    assert store.claim_step(incident, 1, 1, "step 2", later)[:2] == (1, later)
    assert store.claim_step(incident, 1, 0, "behind", later)[:2] == (0, None)
    store.acknowledge(key, "jane", "", T0)
    assert store.claim_step(incident, 2, 2, "after ack", T0)[:2] == (0, None)
    assert [t.kind for t in store.timeline(key)].count("escalated") == 2


def test_claim_reminder_once_per_sequence(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    applied = apply(store, entry())
    key = "checkout-down:service=checkout"
    assert store.claim_reminder(key, applied.inc, 1) == 1
    assert store.claim_reminder(key, applied.inc, 1) == 2
    assert store.claim_reminder(key, applied.inc, 0) == 0
    assert store.claim_reminder(key, "other-incarnation", 2) == 0
    store.resolve(key, "jane", "", T0)
    assert store.claim_reminder(key, applied.inc, 2) == 0


def test_a_live_incident_is_kept_however_long_it_is_quiet(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    key = "checkout-down:service=checkout"
    for part in ("", "alerts", "timeline"):
        assert redis_client.ttl(store.key_of(key, part)) == -1  # no expiry
    assert redis_client.ttl(store.fingerprint_key("am:1")) == -1
    store.acknowledge(key, "jane", "", T0 + timedelta(minutes=1))
    month = T0 + timedelta(days=30)
    assert store.count_open(month)["SEV1"] == 1
    assert [i.key for i in store.list(now=month, status="acknowledged")] == [key]
    assert store.list(now=T0, severity="SEV2") == []


def test_a_resolved_incident_is_readable_for_the_window(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    key = "checkout-down:service=checkout"
    store.resolve(key, "jane", "", T0 + timedelta(minutes=2))
    for part in ("", "alerts", "timeline"):
        assert 3500 < redis_client.ttl(store.key_of(key, part)) <= 3600
    assert 3500 < redis_client.ttl(store.fingerprint_key("am:1")) <= 3600
    assert store.count_open(T0)["SEV1"] == 0
    assert [i.status for i in store.list(now=T0 + timedelta(minutes=61))] == ["resolved"]
    assert store.list(now=T0 + timedelta(minutes=62, seconds=1)) == []


def test_incident_as_dict_is_json_ready(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    incident = store.get("checkout-down:service=checkout")
    assert incident is not None
    data = json.loads(json.dumps(incident.as_dict()))
    assert data["severity"] == "SEV1"
    assert data["opened_at"].startswith("2026-03-02T10:00")


# the fingerprint index: an alert's incident is found by fingerprint, whatever rule matched


def test_a_raised_level_upgrades_the_incident_its_fingerprint_lives_in(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    warn = entry("am:f", severity="SEV3", key="warning:am:f", rule="warning")
    opened = apply(store, warn)
    down = entry("am:f", severity="SEV1", key="down:am:f", rule="down", escalation="chat-only")
    raised = apply(store, down, minutes=4)
    assert (raised.outcome, raised.key, raised.version, raised.severity) == (
        "raised",
        "warning:am:f",
        2,
        "SEV1",
    )
    assert raised.inc == opened.inc
    assert store.get("down:am:f") is None
    incident = store.get("warning:am:f")
    assert incident is not None
    assert (incident.severity, incident.rule, incident.escalation) == ("SEV1", "down", "chat-only")
    assert changes(store) == [("opened", 1, ""), ("severity_raised", 2, "")]
    raised_line = [t.text for t in store.timeline("warning:am:f") if t.kind == "severity_raised"]
    assert raised_line == ["SEV3 -> SEV1 (am:f, rule down)"]
    assert store.count_open(T0) == {"SEV1": 1, "SEV2": 0, "SEV3": 0, "SEV4": 0}


def test_a_lowered_level_joins_the_incident_its_fingerprint_lives_in(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry("am:f", severity="SEV1", key="down:am:f", rule="down"))
    joined = apply(store, entry("am:f", severity="SEV3", key="warning:am:f", rule="warning"))
    assert (joined.outcome, joined.key) == ("joined", "down:am:f")
    assert store.get("warning:am:f") is None
    assert [i.key for i in store.list(now=T0)] == ["down:am:f"]


def test_a_resolve_under_another_rule_resolves_the_fingerprint(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry("am:f", severity="SEV3", key="warning:am:f"))
    apply(store, entry("am:f", severity="SEV1", key="down:am:f"))
    done = apply(store, entry("am:f", status="resolved", severity="SEV3", key="default:am:f"))
    assert (done.outcome, done.key) == ("resolved", "warning:am:f")
    incident = store.get("warning:am:f")
    assert incident is not None
    assert incident.status == "resolved"
    assert changes(store)[-1] == ("resolve", 3, "source")
    assert apply(store, entry("am:f", status="resolved", key="default:am:f")).outcome == "ignored"


def test_an_alert_in_two_incidents_by_continue_keeps_both(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    both = ["first:am:f", "second:am:f"]
    first = entry("am:f", severity="SEV2", key=both[0], rule="first")
    second = entry("am:f", severity="SEV1", key=both[1], rule="second")
    assert apply(store, first, siblings=both).outcome == "opened"
    assert apply(store, second, siblings=both).outcome == "opened"
    assert store.get(both[0]).severity == "SEV2"  # type: ignore[union-attr]
    # one resolve entry resolves the alert in both of them; its twin finds nothing left
    resolved = apply(store, entry("am:f", status="resolved", key=both[0]))
    assert resolved.outcome == "resolved"
    assert apply(store, entry("am:f", status="resolved", key=both[1])).outcome == "ignored"
    assert {i.key: i.status for i in store.list(now=T0)} == dict.fromkeys(both, "resolved")


def test_the_fingerprint_index_lives_as_long_as_its_incident(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry("am:f", severity="SEV3", key="warning:am:f"))
    index = store.fingerprint_key("am:f")
    assert redis_client.smembers(index) == {b"warning:am:f"}
    assert redis_client.ttl(index) == -1  # kept while the incident is live
    # an incident resolved by an operator no longer holds its alerts: a new one opens
    store.resolve("warning:am:f", "jane", "", T0)
    again = apply(store, entry("am:f", severity="SEV1", key="down:am:f"), minutes=1)
    assert (again.outcome, again.key) == ("opened", "down:am:f")
    assert redis_client.smembers(index) == {b"down:am:f"}
    assert redis_client.ttl(index) == -1
    store.resolve("down:am:f", "jane", "", T0)
    assert 3500 < redis_client.ttl(index) <= 3600  # no live incident holds it now


def test_the_fingerprint_index_stays_while_another_live_incident_holds_it(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    both = ["a:am:f", "b:am:f"]  # two rules with `continue: true`
    apply(store, entry("am:f", key="a:am:f", rule="a"), siblings=both)
    apply(store, entry("am:f", key="b:am:f", rule="b"), siblings=both)
    index = store.fingerprint_key("am:f")
    store.resolve("a:am:f", "jane", "", T0)
    assert redis_client.ttl(index) == -1
    store.resolve("b:am:f", "jane", "", T0)
    assert 3500 < redis_client.ttl(index) <= 3600


def test_unacknowledge_reopens_only_an_acknowledged_incident(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    key = "checkout-down:service=checkout"
    assert store.unacknowledge(key, "jane", "", T0) is None  # open: nothing to take back
    store.acknowledge(key, "jane", "", T0)
    assert store.unacknowledge(key, "bob", "not mine", T0) == 3
    incident = store.get(key)
    assert incident is not None
    assert (incident.status, incident.lead) == ("open", None)
    assert changes(store)[-1] == ("unacknowledge", 3, "bob")
    assert store.timeline(key)[-1].text == "bob: not mine"
    assert store.timeline(key)[-1].kind == "unacknowledged"
    store.resolve(key, "jane", "", T0)
    assert store.unacknowledge(key, "bob", "", T0) is None


def test_alerts_by_fingerprint(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry(fingerprint="am:1"))
    apply(store, entry(fingerprint="am:2"))
    apply(store, entry(fingerprint="am:1", status="resolved"))
    assert store.alerts("checkout-down:service=checkout") == {"am:1": "resolved", "am:2": "firing"}
    assert store.alerts("no-such-incident") == {}


def test_sent_records_marker_notified_thread_and_timeline_in_one_step(redis_client, key_prefix):
    store = make_store(redis_client, key_prefix)
    apply(store, entry())
    key = "checkout-down:service=checkout"
    marker = f"{key_prefix}sent:x"
    store.sent(key, marker, 600, "oncall", None, "trigger to oncall", T0)
    store.sent(key, marker, 600, None, ("C1", "1.0"), "trigger to incidents", T0)
    store.sent(key, marker, 600, None, ("C1", "2.0"), None, T0)  # a root exists: kept
    assert redis_client.get(marker) == b"sent"
    assert store.notified(key) == {"oncall"}
    # created after the apply: it must live (and later expire) with the record
    assert redis_client.ttl(store.key_of(key, "notified")) == -1
    assert store.get(key).thread == ("C1", "1.0")  # type: ignore[union-attr]
    notes = [t.text for t in store.timeline(key) if t.kind == "notified"]
    assert notes == ["trigger to oncall", "trigger to incidents"]
    store.resolve(key, "jane", "", T0)
    store.sent(key, marker, 600, "eng-lead", None, "resolve to eng-lead", T0)
    notified_ttl = redis_client.ttl(store.key_of(key, "notified"))
    assert 0 < notified_ttl <= redis_client.ttl(store.key_of(key))
    # a delivery after the incident expired recreates nothing that would never expire
    redis_client.delete(*(store.key_of(key, part) for part in ("", "timeline", "notified")))
    store.sent(key, marker, 600, "cto", None, "late", T0)
    store.note(key, "note", "late", T0)
    assert redis_client.exists(store.key_of(key, "timeline")) == 0
    assert 0 < redis_client.ttl(store.key_of(key, "notified")) <= 600
