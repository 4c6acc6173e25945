"""Where services read "now": one injected `Clock`, so tests move time instead of waiting for it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from common.timestamps import utcnow


class Clock(Protocol):
    def __call__(self) -> dt.datetime:
        """Now, timezone-aware."""
        ...


class SystemClock:
    """The real time, in milliseconds (what MongoDB stores)."""

    def __call__(self) -> dt.datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to (tests, simulations). Readable as epoch seconds with `now()`."""

    def __init__(self, start: float | None = None) -> None:
        self._at = utcnow() if start is None else dt.datetime.fromtimestamp(start, dt.UTC)

    def __call__(self) -> dt.datetime:
        return self._at

    def now(self) -> float:
        return self._at.timestamp()

    def set(self, when: float) -> None:
        self._at = dt.datetime.fromtimestamp(when, dt.UTC)

    def advance(self, seconds: float) -> None:
        self._at += dt.timedelta(seconds=seconds)
