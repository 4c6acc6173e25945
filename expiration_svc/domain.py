"""Timer rules, free of I/O: when a timer is due, how long the scheduler may sleep, what a claim holds.

Times inside the service are integer milliseconds since the Unix epoch (exact as Redis sorted-set scores).
A timer is due when `now_ms >= due_ms`; `due_ms` rounds the order's expire time up and `now_ms` rounds the clock
down, so a timer never fires before its order's window has closed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp


class MissingExpireTime(ValueError):
    """An order.created without an expire time breaks the contract; it cannot be scheduled."""


def now_ms(seconds: float) -> int:
    """A clock reading (epoch seconds) as whole milliseconds, rounded down."""
    return math.floor(seconds * 1000)


def due_ms(expire_time: Timestamp) -> int:
    """An order's expire time as whole milliseconds, rounded up."""
    if expire_time.seconds == 0 and expire_time.nanos == 0:
        raise MissingExpireTime("order.created carries no expire_time")
    return expire_time.seconds * 1000 + -(-expire_time.nanos // 1_000_000)


def seconds_to_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def wake_delay(now: int, next_due: int | None, poll_interval: float, tick: float = 0.0) -> float:
    """How long (seconds) the scheduler sleeps: until the next due time or one poll interval, whichever is first,
    but at least one `tick` (timers due within a tick are claimed together, not one claim each).

    `next_due` is the earliest time anything becomes claimable (a timer or an expiring lease); None when nothing is.
    """
    if next_due is None:
        return poll_interval
    return min(poll_interval, max(tick, (next_due - now) / 1000))


def parse_score(value: str | float | None) -> int | None:
    """A sorted-set score as read back from Redis (a string without decoding) as integer milliseconds."""
    if value is None:
        return None
    return int(float(value))


@dataclass(frozen=True)
class Claim:
    """Due timers one replica took, and the lease it holds them under.

    `lease_until` doubles as the claim's token: a later claim of the same timer (after the lease ran out) always
    writes a strictly later lease (its `now` is past this one), so "the score still equals my lease" means
    "nobody has taken it over".
    """

    lease_until: int
    order_ids: tuple[str, ...]
    next_timer: int | None  # earliest remaining timer after the claim
    next_lease_end: int | None  # earliest lease that will run out (a claim a replica may never finish)

    @property
    def next_due(self) -> int | None:
        candidates = [t for t in (self.next_timer, self.next_lease_end) if t is not None]
        return min(candidates) if candidates else None
