from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.workers.helpers import T0, incident, policy
from workers.escalation import path as escalation


def test_plan_skips_steps_for_other_severities_and_repeats():
    rules = policy(repeat=1)
    sev1 = escalation.plan(rules, incident(severity="SEV1"))
    sev2 = escalation.plan(rules, incident(severity="SEV2"))
    assert [s.notify for s in sev2[:3]] == [("oncall", "incidents"), ("eng-lead",), ("cto",)]
    assert len(sev1) == 8
    assert len(sev2) == 6
    assert sev2[3].after == timedelta(minutes=50)  # the second round starts after cto's wait
    assert escalation.plan(rules, replace(incident(), escalation="gone")) == []


def test_delay_after_and_reached():
    steps = escalation.plan(policy(), incident(severity="SEV1"))
    assert escalation.delay_after(steps, 0) == timedelta(minutes=5)
    assert escalation.delay_after(steps, 2) == timedelta(minutes=30)
    assert escalation.delay_after(steps, 3) is None
    assert escalation.reached(steps, timedelta(0)) == 0
    assert escalation.reached(steps, timedelta(minutes=19)) == 1
    assert escalation.reached(steps, timedelta(minutes=20)) == 2
    assert escalation.reached(steps, timedelta(hours=3)) == 3


def test_during_defers_to_the_next_start_of_the_interval():
    rules = policy()
    step = rules.escalations["business"].plan("SEV3")[1]
    evening = T0.replace(hour=18, minute=20)
    assert escalation.deferred_until(rules, step, evening) == (T0 + timedelta(days=1)).replace(
        hour=9
    )
    assert escalation.deferred_until(rules, step, T0.replace(hour=11)) is None
    first = rules.escalations["business"].plan("SEV3")[0]
    assert escalation.deferred_until(rules, first, evening) is None


def test_step_deliveries_page_new_targets_and_note_the_thread():
    rules = policy()
    steps = escalation.plan(rules, incident(severity="SEV1"))
    first = escalation.step_deliveries(rules, steps[0], set(), 4)
    assert [(d.target, d.action) for d in first] == [
        ("oncall", "trigger"),
        ("incidents", "trigger"),
    ]
    second = escalation.step_deliveries(rules, steps[1], {"oncall", "incidents"}, 4)
    assert [(d.target, d.action) for d in second] == [
        ("eng-lead", "trigger"),
        ("incidents", "escalate"),
    ]
    assert second[0].text == "Escalated to eng-lead (step 2 of 4)"
    again = escalation.step_deliveries(rules, steps[0], {"oncall", "incidents"}, 4)
    assert {d.action for d in again} == {"escalate"}


def test_updates_go_to_slack_and_everyone_to_all():
    rules = policy()
    told = {"oncall", "incidents", "eng-lead"}
    assert [d.target for d in escalation.updates(rules, told, "note", "x")] == ["incidents"]
    assert [d.target for d in escalation.everyone(told, "resolve", "x")] == [
        "eng-lead",
        "incidents",
        "oncall",
    ]


def test_resumed_continues_after_the_last_step_fired():
    steps = escalation.plan(policy(), incident(severity="SEV1"))
    assert escalation.resumed(steps, -1, None) == (0, None)  # acknowledged before step 1
    assert escalation.resumed(steps, 0, T0) == (1, T0 + timedelta(minutes=5))
    assert escalation.resumed(steps, 2, T0) == (3, T0 + timedelta(minutes=30))
    assert escalation.resumed(steps, 3, T0) is None  # the path is done
    assert escalation.resumed([], -1, None) is None


def test_covered_places_an_incident_on_a_path_by_who_was_told():
    rules = policy(repeat=1)
    sev1 = incident(severity="SEV1")
    steps = escalation.first_round(rules, sev1)
    assert [s.notify for s in steps] == [("oncall", "incidents"), ("eng-lead",), ("cto",), ("ceo",)]
    assert escalation.covered(steps, set()) == -1
    assert escalation.covered(steps, {"incidents"}) == -1  # on-call not paged yet
    assert escalation.covered(steps, {"oncall", "incidents", "cto"}) == 0  # the lead is next
    assert escalation.covered(steps, {"oncall", "incidents", "eng-lead", "cto", "ceo"}) == 3
    assert escalation.first_round(rules, replace(sev1, escalation="gone")) == []


def test_caught_up_pages_whoever_is_left_up_to_the_step_once():
    rules = policy()
    steps = escalation.plan(rules, incident(severity="SEV1"))
    told = escalation.caught_up(steps, 2, {"incidents", "eng-lead"}, rules)
    assert [(d.target, d.action) for d in told] == [
        ("oncall", "trigger"),
        ("cto", "trigger"),
        ("incidents", "escalate"),
    ]
    assert told[0].text == "Escalated to oncall, cto (step 3 of 4)"
    assert escalation.caught_up(steps, 1, {"oncall", "incidents", "eng-lead"}, rules) == []


def test_a_raise_tells_the_paged_the_new_severity_unless_acknowledged():
    rules = policy()
    told = {"oncall", "incidents", "eng-lead"}
    raised = escalation.raise_told(rules, incident(severity="SEV1"), told)
    assert [(d.target, d.action, d.text) for d in raised] == [
        ("incidents", "severity_raised", "Severity raised to SEV1"),
        ("eng-lead", "escalate", "Severity raised to SEV1"),
        ("oncall", "escalate", "Severity raised to SEV1"),
    ]
    acked = replace(incident(severity="SEV1"), status="acknowledged", lead="jane")
    assert [(d.target, d.text) for d in escalation.raise_told(rules, acked, told)] == [
        ("incidents", "Severity raised to SEV1 while acknowledged by jane: nobody paged")
    ]
