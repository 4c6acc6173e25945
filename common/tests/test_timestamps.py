"""Milliseconds, the one way every service converts them."""

from __future__ import annotations

import datetime as dt

import pytest

from common.timestamps import EPOCH, epoch_millis, from_epoch_millis, truncate_to_millis, utcnow


def test_millisecond_helpers_agree() -> None:
    moment = dt.datetime(2030, 5, 6, 7, 8, 9, 123_999, tzinfo=dt.UTC)
    assert truncate_to_millis(moment) == moment.replace(microsecond=123_000)
    assert truncate_to_millis(moment.astimezone(dt.timezone(dt.timedelta(hours=2)))).tzinfo is dt.UTC
    assert epoch_millis(moment) == 1_904_281_689_123
    assert from_epoch_millis(epoch_millis(moment)) == truncate_to_millis(moment)
    assert epoch_millis(EPOCH) == 0
    assert utcnow().microsecond % 1000 == 0
    with pytest.raises(OverflowError):
        from_epoch_millis(10**18)
