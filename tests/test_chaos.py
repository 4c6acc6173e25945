"""A short chaos run (the long one: `make chaos`): concurrent purchases, cancels and expiries through the gateway
while services are SIGKILLed and each server is stopped or frozen longer than any client timeout; afterwards
every SPEC "Faults" invariant holds and no buyer was told something untrue. CHAOS_SEED replays a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import HOW, SERVERS, config_from_env, run

pytestmark = pytest.mark.e2e


async def test_a_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    config = config_from_env({"fault_seconds": 44, "buyers": 6, "outage_seconds": 11})

    report = await run(tmp_path, config)

    assert report.problems == [], report.summary()
    assert (report.lost, report.doubled, report.lies) == (0, 0, 0)
    assert report.counts["pay_attempts"] > 0 and report.counts["kills"] > 0
    for server in SERVERS:  # each one went away once
        assert sum(report.counts[f"outage_{server}_{how}"] for how in HOW) >= 1, report.summary()
