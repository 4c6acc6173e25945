"""Times: datetime <-> google.protobuf.Timestamp, and milliseconds, always in UTC.

MongoDB stores datetimes to the millisecond, so a time we write is truncated to milliseconds first (it then reads
back exactly as it was written); `epoch_millis` is the same instant as an exact integer.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)


def to_timestamp(value: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(dt.UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> dt.datetime:
    return stamp.ToDatetime(tzinfo=dt.UTC)


def truncate_to_millis(value: dt.datetime) -> dt.datetime:
    """`value` in UTC, truncated to milliseconds."""
    value = value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def utcnow() -> dt.datetime:
    """Now, truncated to milliseconds."""
    return truncate_to_millis(dt.datetime.now(dt.UTC))


def epoch_millis(value: dt.datetime) -> int:
    """Whole milliseconds since the Unix epoch, rounded down, in exact integer arithmetic (a float can be one off)."""
    return (value - EPOCH) // _MILLISECOND


def from_epoch_millis(millis: int) -> dt.datetime:
    """The UTC datetime `millis` milliseconds after the epoch (OverflowError beyond year 9999)."""
    return EPOCH + millis * _MILLISECOND
