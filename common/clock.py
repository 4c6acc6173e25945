"""Where services read "now": one injected `Clock`, so tests move time instead of waiting for it."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

from common.timestamps import truncate_to_millis, utcnow


class Clock(Protocol):
    def __call__(self) -> dt.datetime:
        """Now, timezone-aware."""
        ...


class SystemClock:
    """The real time, in milliseconds (what MongoDB stores)."""

    def __call__(self) -> dt.datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to (tests, simulations). Readable as epoch seconds with `now()`.

    With `running=True` it also goes on with the real time from where it was last set (a shifted clock: what a test
    moves is moved, and leases and waits measured by it still run out)."""

    def __init__(self, start: float | dt.datetime | None = None, *, running: bool = False) -> None:
        self._running = running
        self._at = utcnow()
        self._since = time.monotonic()
        if start is not None:
            self.set(start)

    def __call__(self) -> dt.datetime:
        if not self._running:
            return self._at
        return truncate_to_millis(self._at + dt.timedelta(seconds=time.monotonic() - self._since))

    def now(self) -> float:
        return self().timestamp()

    def set(self, when: float | dt.datetime) -> None:
        self._at = when if isinstance(when, dt.datetime) else dt.datetime.fromtimestamp(when, dt.UTC)
        self._since = time.monotonic()

    def advance(self, seconds: float) -> None:
        self._at += dt.timedelta(seconds=seconds)
