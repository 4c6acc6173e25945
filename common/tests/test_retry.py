"""A lost write race is retried by reading and deciding again, a bounded number of times."""

from __future__ import annotations

import pytest

from common.retry import LostRace, retry_lost_races


async def test_an_attempt_that_lost_a_race_runs_again_until_it_wins() -> None:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls))
        if len(calls) < 3:
            raise LostRace("ticket t1")
        return "written"

    assert await retry_lost_races(attempt, attempts=3, what="ticket t1") == "written"
    assert calls == [0, 1, 2]


async def test_losing_every_attempt_is_an_error_naming_what_kept_changing() -> None:
    async def attempt() -> None:
        raise LostRace("ticket t1")

    with pytest.raises(RuntimeError, match="ticket t1 kept changing under 2 attempts"):
        await retry_lost_races(attempt, attempts=2, what="ticket t1")


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await retry_lost_races(attempt, attempts=5, what="x")
    assert calls == 1
