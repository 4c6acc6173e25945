"""Waiting for an asynchronous effect in a test: poll with a bounded deadline, never a fixed sleep.

- `eventually(probe)`: until `probe` returns something truthy (that value is returned), e.g. a record once it is
  written, `True` once a count is right.
- `passes(check)`: until `check` returns without raising one of `retry_on` (an `assert` that does not hold yet);
  what it returns is returned. At the deadline the last failure is raised, so the test reports the real mismatch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str = "", timeout: float = 20.0, *, interval: float = 0.02
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or probe}")
        await asyncio.sleep(interval)


async def passes(
    check: Callable[[], Awaitable[T]],
    timeout: float = 20.0,
    *,
    interval: float = 0.1,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> T:
    """Call `check` until it returns without raising one of `retry_on`; after `timeout` seconds, raise its error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except retry_on:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval)
