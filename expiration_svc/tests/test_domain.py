"""Timer rules, without servers."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from common.clock import ManualClock
from expiration_svc.domain import Claim, MissingExpireTime, due_ms, now_ms, parse_score, seconds_to_ms, wake_delay


def test_a_timer_is_never_due_before_its_expire_time() -> None:
    # The expire time rounds up to the next millisecond and the clock rounds down: never early.
    assert due_ms(Timestamp(seconds=1_700_000_000, nanos=1)) == 1_700_000_000_001
    assert due_ms(Timestamp(seconds=1_700_000_000, nanos=999_999_999)) == 1_700_000_001_000
    assert due_ms(Timestamp(seconds=1_700_000_000, nanos=5_000_000)) == 1_700_000_000_005
    assert now_ms(1_700_000_000.0049) == 1_700_000_000_004
    assert now_ms(1_700_000_000.004) <= due_ms(Timestamp(seconds=1_700_000_000, nanos=4_000_000))


def test_an_order_without_expire_time_cannot_be_scheduled() -> None:
    with pytest.raises(MissingExpireTime):
        due_ms(Timestamp())


def test_sleep_until_next_due_or_poll_interval_whichever_first() -> None:
    assert wake_delay(now=10_000, next_due=None, poll_interval=0.25) == 0.25
    assert wake_delay(now=10_000, next_due=10_100, poll_interval=0.25) == pytest.approx(0.1)
    assert wake_delay(now=10_000, next_due=60_000, poll_interval=0.25) == 0.25
    assert wake_delay(now=10_000, next_due=9_000, poll_interval=0.25) == 0.0  # overdue: claim at once
    # Never less than a tick: timers due within one tick are claimed together.
    assert wake_delay(now=10_000, next_due=10_002, poll_interval=0.25, tick=0.01) == 0.01
    assert wake_delay(now=10_000, next_due=10_100, poll_interval=0.25, tick=0.01) == pytest.approx(0.1)


def test_next_claimable_time_covers_timers_and_running_out_leases() -> None:
    assert Claim(5, (), next_timer=None, next_lease_end=None).next_due is None
    assert Claim(5, (), next_timer=300, next_lease_end=None).next_due == 300
    assert Claim(5, (), next_timer=300, next_lease_end=200).next_due == 200
    assert Claim(5, (), next_timer=None, next_lease_end=200).next_due == 200


def test_scores_and_durations_are_whole_milliseconds() -> None:
    assert parse_score("1700000000123") == 1_700_000_000_123
    assert parse_score(1.7e12) == 1_700_000_000_000
    assert parse_score(None) is None
    assert seconds_to_ms(30) == 30_000
    assert seconds_to_ms(0.0001) == 1


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start=100.0)
    assert clock.now() == 100.0
    clock.advance(2.5)
    assert clock.now() == 102.5
    clock.set(50.0)
    assert clock.now() == 50.0
