"""Storm folding as timelines: a burst of incidents in, the exact pages and messages out."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from prometheus_client import REGISTRY

from core import gauges
from core.models import Severity
from core.rules.model import Escalation, Step, Storm
from tests.workers.conftest import Harness, _forget_jobs, make_harness
from tests.workers.helpers import T0, entry, hand_off, policy
from workers.escalation import steps, storms

STORM = Storm(threshold=3, window=timedelta(minutes=1), cooldown=timedelta(minutes=5))
SERVICES = ("checkout", "payments", "search")


@pytest.fixture
def h(redis_client: redis.Redis, key_prefix: str) -> Iterator[Harness]:
    # one step to oncall (PagerDuty) and #incidents (Slack), storms on both
    base = policy()
    single = Escalation("single", (Step(("oncall", "incidents")),))
    rules = dataclasses.replace(
        base,
        escalations={**base.escalations, "single": single},
        storms={"oncall": STORM, "incidents": STORM},
    )
    made = make_harness(redis_client, key_prefix, rules)
    yield made
    _forget_jobs(made)


def fire(h: Harness, *numbers: int, severity: Severity = "SEV3", status: str = "firing") -> None:
    """Incidents k<n> (alert am:<n>, service by n) fire or resolve now; run what is due."""
    for n in numbers:
        e = entry(
            fingerprint=f"am:{n}",
            status=status,  # type: ignore[arg-type]
            severity=severity,
            key=f"k{n}",
            escalation="single",
            received_at=h.clock.now,
            service=SERVICES[n % 3],
        )
        hand_off(h.ctx.redis, h.ctx.prefix, e)
    h.run_due()


def at(h: Harness, minutes: float) -> None:
    """Move to T0 + minutes and run what is due, and the changes that made (a storm's
    resolve goes out through the outbox, as one from the API does)."""
    h.clock.now = T0 + timedelta(minutes=minutes)
    h.run_due()
    h.run_due()


def sent(h: Harness) -> Counter[tuple[str, str, str]]:
    """(action, target, incident) of everything sent to PagerDuty and Slack, counted."""
    both = [*h.pagerduty.sent, *h.slack.sent]
    return Counter((n.action, n.target.name, n.incident.key) for n in both)


def paged(*keys: str) -> Counter[tuple[str, str, str]]:
    """Step 1 of each incident: a page to oncall and a root message in #incidents."""
    return Counter((action, target, key) for key in keys for action, target in PAGE)


PAGE = (("trigger", "oncall"), ("trigger", "incidents"))
STORM_PAGES = Counter(
    {("trigger", "oncall", "storm:oncall"): 1, ("trigger", "incidents", "storm:incidents"): 1}
)
STORM_RESOLVES = Counter(
    {("resolve", "oncall", "storm:oncall"): 1, ("resolve", "incidents", "storm:incidents"): 1}
)


def timeline(h: Harness, key: str) -> list[str]:
    return [f"{e.kind}: {e.text}" for e in h.ctx.store.timeline(key)]


def folded_total(target: str, severity: str) -> float:
    labels = {"target": target, "severity": severity}
    return REGISTRY.get_sample_value("alertgw_incidents_folded_total", labels) or 0.0


def active(h: Harness, target: str) -> float | None:
    gauges.count_storms(h.ctx.redis, h.ctx.prefix)
    return REGISTRY.get_sample_value("alertgw_storm_active", {"target": target})


def test_a_burst_pages_the_threshold_then_one_storm_then_its_end(h: Harness):
    before = folded_total("oncall", "SEV3")
    fire(h, *range(20))  # 20 new SEV3 incidents at once
    # 3 pages go out as usual; the 4th starts the storm: one page per target for 17 more
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES
    assert folded_total("oncall", "SEV3") - before == 17
    assert active(h, "oncall") == 1
    storm = h.ctx.store.get("storm:oncall")
    assert storm is not None
    assert storm.status == "open"
    assert storm.alert_count == 17
    assert storm.title == "Alert storm: 17 incidents for oncall since 10:00 UTC"
    assert storm.summary == "top services: checkout (6), payments (6), search (5)"
    # every folded incident exists, open, and says where it went
    for n in range(3, 20):
        incident = h.ctx.store.get(f"k{n}")
        assert incident is not None
        assert incident.status == "open"
        assert (
            "folded: folded into storm storm:oncall: oncall is not paged for it while the "
            "storm lasts" in timeline(h, f"k{n}")
        )
    # the storm's Slack message is edited in place, once per 10 s at most
    fire(h, 20, 21)
    at(h, 10 / 60)
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES + Counter(
        {("refresh", "incidents", "storm:incidents"): 1}
    )
    slack_storm = next(n for n in h.slack.sent if n.action == "refresh")
    assert slack_storm.incident.title == "Alert storm: 19 incidents for incidents since 10:00 UTC"
    # a folded incident resolves normally: nobody was told, nobody hears
    at(h, 2)
    fire(h, 5, status="resolved")
    resolved = h.ctx.store.get("k5")
    assert resolved is not None
    assert resolved.status == "resolved"
    at(h, 4.9)  # the cooldown counts from the last time over the threshold (0:00)
    assert active(h, "oncall") == 1
    at(h, 5)
    # the storm resolves; the 18 folded incidents still open page on their own now
    still = [f"k{n}" for n in range(3, 22) if n != 5]
    refresh = Counter({("refresh", "incidents", "storm:incidents"): 1})
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES + refresh + STORM_RESOLVES + paged(
        *still
    )
    assert active(h, "oncall") == 0
    ended = h.ctx.store.get("storm:oncall")
    assert ended is not None
    assert ended.status == "resolved"
    assert (
        "resolved: alertgw: Storm over: no more than the threshold for 5m. Folded 19 "
        "incidents (1 resolved, 18 still open now escalate on their own); "
        "top services: checkout (7), payments (6), search (6)"
    ) in timeline(h, "storm:oncall")
    # a new burst later starts a new storm incarnation under the same key
    at(h, 30)
    fire(h, *range(100, 104))
    assert sent(h)[("trigger", "oncall", "storm:oncall")] == 2


def test_a_sev1_during_a_storm_pages_on_its_own(h: Harness):
    fire(h, *range(6))
    fire(h, 50, severity="SEV1")
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES + paged("k50")
    assert "folded" not in " ".join(timeline(h, "k50"))


def test_under_the_threshold_nothing_is_folded(h: Harness):
    for minute in range(0, 10):  # 3 new incidents a minute: never more than 3 within one
        at(h, minute)
        fire(h, 3 * minute, 3 * minute + 1, 3 * minute + 2)
    keys = [f"k{n}" for n in range(30)]
    assert sent(h) == paged(*keys)
    assert h.ctx.store.get("storm:oncall") is None


def test_acknowledging_the_storm_incident_keeps_folding_quietly(h: Harness):
    fire(h, *range(6))
    assert h.ctx.store.acknowledge("storm:oncall", "jane", "", h.clock.now)
    h.run_due()
    ack = Counter({("acknowledge", "oncall", "storm:oncall"): 1})
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES + ack
    at(h, 1)
    fire(h, *range(6, 12))  # still folded: no page, the storm incident counts them
    storm = h.ctx.store.get("storm:oncall")
    assert storm is not None
    assert storm.status == "acknowledged"
    assert storm.alert_count == 9
    at(h, 5.9)
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES + ack + Counter(
        {("refresh", "incidents", "storm:incidents"): 2}
    )
    at(h, 6)  # 5m after the last minute over the threshold (at 1): it ends
    ended = h.ctx.store.get("storm:oncall")
    assert ended is not None
    assert ended.status == "resolved"
    folded = [f"k{n}" for n in range(3, 12)]
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES + ack + Counter(
        {("refresh", "incidents", "storm:incidents"): 2}
    ) + STORM_RESOLVES + paged(*folded)


def test_an_acknowledged_folded_incident_is_not_paged_when_the_storm_ends(h: Harness):
    fire(h, *range(5))
    assert h.ctx.store.acknowledge("k4", "jane", "", h.clock.now)
    at(h, 5)
    refresh = Counter({("refresh", "incidents", "storm:incidents"): 1})  # k4 folded after k3
    expected = paged("k0", "k1", "k2") + STORM_PAGES + refresh + STORM_RESOLVES
    assert sent(h) == expected + paged("k3")


def test_a_step_run_again_after_a_worker_died_folds_once(h: Harness):
    fire(h, *range(6))
    before = folded_total("oncall", "SEV3")
    for n in (3, 5):  # the opening step of folded incidents, and of the one that began it
        incident = h.ctx.store.get(f"k{n}")
        assert incident is not None
        steps.fire(h.ctx, incident, incident.version, 0)
    h.run_due()
    assert sent(h) == paged("k0", "k1", "k2") + STORM_PAGES
    assert folded_total("oncall", "SEV3") == before
    storm = h.ctx.store.get("storm:oncall")
    assert storm is not None
    assert storm.alert_count == 3


def test_a_worker_dying_while_ending_the_storm_loses_and_doubles_nothing(
    h: Harness, monkeypatch: pytest.MonkeyPatch
):
    fire(h, *range(8))
    h.clock.now = T0 + timedelta(minutes=5)
    # the worker ending the oncall storm dies after releasing two incidents
    released: list[str] = []
    real = steps.unfold

    def dies_after_two(ctx: object, incident: object, target: str) -> None:
        if len(released) == 2:
            raise SystemExit("worker killed")
        released.append(target)
        real(ctx, incident, target)  # type: ignore[arg-type]

    monkeypatch.setattr(steps, "unfold", dies_after_two)
    storm = h.ctx.store.get("storm:oncall")
    assert storm is not None
    with pytest.raises(SystemExit):
        storms.storm_check("oncall", storm.inc)
    monkeypatch.setattr(steps, "unfold", real)
    storms.storm_check("oncall", storm.inc)  # RQ runs the abandoned job again
    at(h, 5)  # and the storm of #incidents ends as usual
    folded = [f"k{n}" for n in range(3, 8)]
    refresh = Counter({("refresh", "incidents", "storm:incidents"): 1})
    expected = paged("k0", "k1", "k2") + STORM_PAGES + refresh + STORM_RESOLVES
    assert sent(h) == expected + paged(*folded)
    assert storms.state_key(h.ctx.prefix, "oncall") not in {
        k.decode() for k in h.ctx.redis.keys(f"{h.ctx.prefix}storm:oncall")
    }


def test_without_a_storm_section_nothing_is_folded(redis_client: redis.Redis, key_prefix: str):
    made = make_harness(redis_client, key_prefix)
    try:
        for n in range(15):
            hand_off(made.ctx.redis, made.ctx.prefix, entry(fingerprint=f"am:{n}", key=f"k{n}"))
        made.run_due()
        assert len(made.pagerduty.sent) == 15
    finally:
        _forget_jobs(made)
