"""The versioned-replica rule, free of I/O, so domain modules can apply it without importing the bus or a store.

    event.version == copy.version + 1  -> APPLIED (the caller writes it with one conditional update)
    event.version <= copy.version      -> DUPLICATE (ack, change nothing)
    event.version >  copy.version + 1  -> EARLY (nak with a delay; the missing versions come first)
Version 0 creates the copy. `common.bus` acks or naks by the `Outcome`; `common.replica` writes by it.
"""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    """What an event handler did with one event (the bus acks APPLIED and DUPLICATE, naks EARLY)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    EARLY = "early"


def classify(copy_version: int | None, event_version: int) -> Outcome:
    """The rule itself. `copy_version` is None when we hold no copy yet."""
    expected = 0 if copy_version is None else copy_version + 1
    if event_version == expected:
        return Outcome.APPLIED
    if copy_version is not None and event_version <= copy_version:
        return Outcome.DUPLICATE
    return Outcome.EARLY
