"""One way to handle a lost write race: read again, decide again, write again (optimistic concurrency)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class LostRace(Exception):
    """What an operation read is no longer current (a conditional write missed): read again and decide again."""


async def retry_lost_races(attempt: Callable[[], Awaitable[T]], *, attempts: int, what: str) -> T:
    """Run `attempt` (read, decide, conditional write) until it does not raise LostRace, `attempts` times at most.

    Each lost race means some other write won, so the bound is reached only under a pathological burst of writers.
    """
    for number in range(1, attempts + 1):
        try:
            return await attempt()
        except LostRace as lost:
            if number == attempts:
                raise RuntimeError(f"{what} kept changing under {attempts} attempts") from lost
            log.info("%s changed concurrently; retrying (attempt %d)", what, number)
    raise AssertionError("unreachable")
