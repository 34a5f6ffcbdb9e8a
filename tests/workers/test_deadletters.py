from __future__ import annotations

import argparse
import json

import pytest

from core.settings import Settings
from tests.workers.conftest import Harness
from tests.workers.helpers import entry, hand_off
from workers import jobs
from workers.notifiers.base import PermanentError
from workers.runtime import commands

KEY = "checkout-down:service=checkout"


def test_dead_letters_list_and_replay(harness: Harness, capsys: pytest.CaptureFixture[str]):
    harness.pagerduty.failures.append(PermanentError("HTTP 400"))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    settings: Settings = harness.ctx.settings
    assert commands.list_letters(argparse.Namespace(), settings) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["func"], d["incident"], d["attempts"]) for d in listed] == [("deliver", KEY, 1)]
    letter = harness.ctx.dead_letters.take(listed[0]["id"])
    assert letter is not None
    jobs.replay(harness.ctx, letter.func, letter.args, letter.id)
    harness.run_queued()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert harness.ctx.dead_letters.count() == 0


def test_replay_refuses_unknown_jobs(harness: Harness):
    with pytest.raises(ValueError, match=r"unknown job 'os\.system'"):
        jobs.replay(harness.ctx, "os.system", ["true"], "x")


def test_a_replay_the_console_asked_for_is_run_by_one_worker(harness: Harness):
    harness.pagerduty.failures.append(PermanentError("HTTP 400"))
    hand_off(harness.ctx.redis, harness.ctx.prefix, entry())
    harness.run_due()
    letters = harness.ctx.dead_letters
    (letter,) = letters.list()
    assert not letters.request_replay("no-such-letter")
    assert letters.request_replay(letter.id)
    assert letters.replays_requested() == (letter.id,)
    assert jobs.replay_requested(harness.ctx) == 1
    assert jobs.replay_requested(harness.ctx) == 0  # another worker's refresher: nothing left
    harness.run_queued()
    assert harness.pagerduty.actions() == [("trigger", "oncall")]
    assert letters.count() == 0
    assert letters.replays_requested() == ()
