"""datetime <-> google.protobuf.Timestamp and <-> epoch milliseconds, always in UTC."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)


def to_timestamp(value: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(dt.UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> dt.datetime:
    return stamp.ToDatetime(tzinfo=dt.UTC)


def to_millis(value: dt.datetime) -> int:
    """Whole milliseconds since the epoch, rounded down, in exact integer arithmetic (a float could be one off)."""
    return (value - _EPOCH) // _MILLISECOND


def from_millis(millis: int) -> dt.datetime:
    return _EPOCH + millis * _MILLISECOND


def utcnow() -> dt.datetime:
    """Now, truncated to milliseconds: what MongoDB stores, so a value reads back exactly as it was written."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
