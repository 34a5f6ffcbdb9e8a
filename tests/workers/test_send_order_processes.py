"""SEV-first sending across worker processes: real gateway and two workers on the test
Redis, a fake PagerDuty that enforces the per-key limit with 429 as PagerDuty does.

The limit is 4 events a minute here (ALERTGW_PAGERDUTY_LIMIT_PER_MINUTE, and the fake's),
so the test waits one look-back window (~60 s), not the two minutes 120 a minute would
need to fill and free.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.fakes.vendors import FakePagerDuty, FakeSlack
from tests.workers.e2e import alertmanager_body, eventually, system

pytestmark = pytest.mark.slow

LIMIT = 4
SEV1_KEY = "checkout:service=checkout"


def test_a_sev1_behind_a_full_window_is_the_next_event_pagerduty_gets(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with (
        FakePagerDuty(limit_per_minute=LIMIT) as pagerduty,
        FakeSlack() as slack,
        system(redis_url, key_prefix, tmp_path, pagerduty, slack) as running,
    ):
        running.env["ALERTGW_PAGERDUTY_LIMIT_PER_MINUTE"] = str(LIMIT)
        running.start_gateway()
        running.start_worker(processes=2)
        for n in range(8):  # 8 SEV4 incidents (the default rule): 4 go, 4 wait
            body = alertmanager_body(f"noise-{n}", service=f"svc-{n}")
            assert running.post(body) == 202
        eventually(lambda: len(pagerduty.events()) >= LIMIT, timeout=60)
        assert running.post(alertmanager_body("checkout-5xx")) == 202  # SEV1, window full
        # The window frees its 4 slots at once, a minute after the first events, and 5
        # wait for them (4 SEV4s, then the SEV1). Without the order, whoever asks first
        # gets one and the SEV1 may wait another minute; in severity order it is always
        # among the 4 (the deterministic cases: tests/workers/test_send_order.py). Which
        # of the 4 PagerDuty records first is a race between two processes' requests,
        # so the test does not look at that.
        eventually(lambda: len(pagerduty.events()) >= 2 * LIMIT, timeout=120)
        accepted = [e["dedup_key"] for e in pagerduty.events()]
        assert SEV1_KEY not in accepted[:LIMIT]
        assert SEV1_KEY in accepted[LIMIT : 2 * LIMIT]
        # alertgw's meter kept both processes under the limit: PagerDuty never said 429
        assert len(pagerduty.events(accepted=False)) == len(pagerduty.events())
        assert max(Counter(accepted).values()) == 1  # nothing sent twice
