"""A worker SIGKILLed around its PagerDuty call still pages exactly once per dedup key.

Two moments, made exact by a fake PagerDuty that kills the worker itself when the page
arrives: *before* the call landed (the worker dies, the connection is reset, PagerDuty
has nothing) and *after* it landed (PagerDuty accepted the event; the worker dies before
it reads the answer, so it never marks the page sent). A fresh worker must then deliver
within 2 minutes: once in the first case; in the second the re-run may send the event
again, with the same dedup_key, which PagerDuty folds into the same alert.

(`tests/workers/test_e2e.py` kills a worker while the fake holds the request, unanswered:
between these two.) Both cases run at once. The page is the new incident's first step,
run by the intake right after the alert is applied; its change is still unread in the
outbox when the worker dies, so the fresh worker dispatches it at once (one it had read
would be claimed after ALERTGW_CLAIM_IDLE_SECONDS: 3 s here). The re-run finds the dead
sender's "sending" marker and retries after it lapses (25 s), and that retry waits for
the dead worker's RQ scheduler lock to lapse (61 s): about 60-80 s in all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest

from tests.fakes.server import Recorded, Reply
from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import alertmanager_body, system

pytestmark = pytest.mark.slow

KEY = "checkout:service=checkout"
CLAIM_IDLE_SECONDS = 3  # the default, 30 s, would only make a claim slower
Moment = Literal["before", "after"]


class KillingPagerDuty(FakePagerDuty):
    """SIGKILLs `victim` (a process group) when the first event arrives."""

    def __init__(self, moment: Moment) -> None:
        super().__init__()
        self.moment = moment
        self.victim: subprocess.Popen[bytes] | None = None
        self.killed_at: float | None = None
        self._once = threading.Lock()

    def _serve(self, request: Recorded) -> Reply | None:
        if self.victim is None or not self._once.acquire(blocking=False):
            return super()._serve(request)
        if self.moment == "before":
            self._kill()
            self._record(_reset(request))
            return None  # PagerDuty never saw it: the connection is reset
        reply = super()._serve(request)  # accepted (recorded as 202) ...
        self._kill()  # ... and the worker dies before it reads the answer
        return reply

    def _kill(self) -> None:
        assert self.victim is not None
        os.killpg(self.victim.pid, signal.SIGKILL)
        self.killed_at = time.time()


def _reset(request: Recorded) -> Recorded:
    return replace(request, status=None)


def run_case(
    moment: Moment, redis_url: str, prefix: str, tmp: Path, outcome: dict[Moment, object]
) -> None:
    try:
        with (
            KillingPagerDuty(moment) as pagerduty,
            FakeSlack() as slack,
            system(redis_url, prefix, tmp, pagerduty, slack) as gw,
        ):
            gw.env["ALERTGW_CLAIM_IDLE_SECONDS"] = str(CLAIM_IDLE_SECONDS)
            gw.start_gateway()
            pagerduty.victim = gw.start_worker()
            assert gw.post(alertmanager_body(f"kill-{moment}")) == 202
            pagerduty.wait_for(1, timeout=15, where=lambda r: r.path == "/v2/enqueue")
            pagerduty.victim.wait(timeout=10)
            gw.start_worker()
            pagerduty.wait_for_events(1 if moment == "before" else 2, "trigger", timeout=100)
            time.sleep(1.0)  # time for one more, if any were coming
            accepted = [
                {**r.body, "at": r.at}
                for r in pagerduty.requests
                if r.path == "/v2/enqueue" and r.status == 202
            ]
            outcome[moment] = (pagerduty.killed_at, accepted)
    except BaseException as error:  # noqa: BLE001 (re-raised by the test's own thread)
        outcome[moment] = error


def test_a_worker_killed_before_or_after_its_page_delivers_once_per_dedup_key(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    outcome: dict[Moment, object] = {}
    cases = [
        threading.Thread(
            target=run_case,
            args=(moment, redis_url, f"{key_prefix}{moment}:", tmp_path / moment, outcome),
        )
        for moment in ("before", "after")
    ]
    for moment in ("before", "after"):
        (tmp_path / moment).mkdir()
    for case in cases:
        case.start()
    for case in cases:
        case.join()
    for moment in ("before", "after"):
        result = outcome[moment]
        if isinstance(result, BaseException):
            raise result
        killed_at, triggers = result  # type: ignore[misc]
        assert killed_at is not None
        assert {event["dedup_key"] for event in triggers} == {KEY}
        when = [(e["routing_key"], round(e["at"] - killed_at, 2)) for e in triggers]
        assert len(triggers) == (1 if moment == "before" else 2), (moment, when)
        assert max(event["at"] for event in triggers) - killed_at < 120
