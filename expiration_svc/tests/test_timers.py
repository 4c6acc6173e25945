"""expiration_svc as it runs: real order events on JetStream in, expiration.complete on the EXPIRATION stream out."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import events
from common.bus import EventBus
from common.clock import ManualClock, SystemClock
from common.testing.poll import eventually
from expiration_svc.store import TimerStore
from expiration_svc.tests.helpers import (
    Expirations,
    StartApp,
    orders_consumed,
    publish_closed,
    publish_created,
)

WINDOW = 900.0  # the default order window, in seconds of the injected clock


async def test_an_order_with_a_two_second_window_expires_on_time(
    start_app: StartApp, bus: EventBus, expirations: Expirations, record_property: Callable[[str, object], None]
) -> None:
    await start_app(use_clock=SystemClock(), poll_interval_seconds=0.25)
    expire_at = time.time() + 2.0
    await publish_created(bus, "a" * 24, expire_at)
    assert await expirations.collect(1, timeout=10) == ["a" * 24]
    lateness = expirations.received[0][1] - expire_at
    print(f"\nexpiration.complete lateness: {lateness * 1000:.1f} ms")
    record_property("lateness_seconds", round(lateness, 4))
    assert 0 <= lateness < 1.5


async def test_ten_thousand_timers_fire_exactly_once(
    start_app: StartApp, clock: ManualClock, bus: EventBus, expirations: Expirations, store: TimerStore
) -> None:
    app = await start_app()
    now = clock.now()
    direct = [(f"direct-{i:05d}", int((now + 60 + i % 600) * 1000)) for i in range(10_000 - 5)]
    assert await app.scheduler.add_many(direct) == len(direct)
    via_events = [f"event-{i}" for i in range(5)]
    for order_id in via_events:
        await publish_created(bus, order_id, now + WINDOW)
    await eventually(lambda: orders_consumed(bus), what="order.created consumed")
    assert await store.counts() == (10_000, 0)
    clock.advance(WINDOW + 1)
    app.scheduler.wake()
    received = await expirations.collect(10_000, timeout=60)
    assert len(received) == 10_000
    assert set(received) == {order_id for order_id, _ in direct} | set(via_events)
    await eventually(lambda: _counts_are(store, (0, 0)), what="every timer acknowledged")
    assert app.scheduler.published == 10_000  # no announcement was published twice
    assert await expirations.stream_count() == 10_000


async def test_a_duplicate_order_created_makes_one_timer(
    start_app: StartApp, clock: ManualClock, bus: EventBus, expirations: Expirations, store: TimerStore
) -> None:
    app = await start_app()
    expire_at = clock.now() + WINDOW
    await publish_created(bus, "dup", expire_at)
    await publish_created(bus, "dup", expire_at, msg_id="a-redelivery-the-broker-cannot-dedup")
    await eventually(lambda: orders_consumed(bus))
    assert await store.counts() == (1, 0)
    clock.advance(WINDOW + 1)
    app.scheduler.wake()
    assert await expirations.collect(1) == ["dup"]
    await eventually(lambda: _counts_are(store, (0, 0)))
    await publish_created(bus, "dup", expire_at, msg_id="redelivered-after-it-fired")
    await eventually(lambda: orders_consumed(bus))
    assert await store.counts() == (0, 0)  # a fired timer is not re-armed
    assert app.scheduler.published == 1
    assert await expirations.stream_count() == 1


async def test_cancelled_and_completed_orders_never_expire(
    start_app: StartApp, clock: ManualClock, bus: EventBus, expirations: Expirations, store: TimerStore
) -> None:
    app = await start_app()
    expire_at = clock.now() + WINDOW
    for order_id in ("unpaid", "cancelled", "paid"):
        await publish_created(bus, order_id, expire_at)
    await publish_closed(bus, events.ORDER_CANCELLED, "cancelled")
    await publish_closed(bus, events.ORDER_COMPLETED, "paid")
    # An order.cancelled that overtook its order.created (a redelivery) leaves no timer behind either.
    await publish_closed(bus, events.ORDER_CANCELLED, "overtaken")
    await publish_created(bus, "overtaken", expire_at)
    await eventually(lambda: orders_consumed(bus))
    assert await store.counts() == (1, 0)
    assert await store.due_of("unpaid") is not None
    clock.advance(WINDOW + 60)
    app.scheduler.wake()
    assert await expirations.collect(1) == ["unpaid"]
    await eventually(lambda: _counts_are(store, (0, 0)))
    # All four were due in the same claim, so nothing else is on its way.
    assert app.scheduler.published == 1
    assert await expirations.stream_count() == 1


async def test_the_scheduler_sleeps_until_the_next_due_time_and_wakes_for_an_earlier_timer(
    start_app: StartApp, bus: EventBus, expirations: Expirations, store: TimerStore
) -> None:
    # A poll interval far longer than the test: only the due-time sleep and the wake-up can fire these in time.
    app = await start_app(use_clock=SystemClock(), poll_interval_seconds=3600)
    await app.scheduler.add("late", int((time.time() + 3000) * 1000))
    start = time.time()
    await publish_created(bus, "soon", start + 0.3)  # earlier than the planned wake: the listener wakes it
    assert await expirations.collect(1, timeout=10) == ["soon"]
    fired = expirations.received[0][1]
    assert start + 0.3 <= fired < start + 1.5
    await eventually(lambda: _counts_are(store, (1, 0)), what="acknowledged; the late one still pending")
    cycles = app.scheduler.cycles
    # Not a busy loop: a handful of claims (start, the add, the due time), not thousands.
    assert cycles <= 6, cycles
    assert app.scheduler.published == 1


async def test_grpc_health_is_serving(start_app: StartApp) -> None:
    app = await start_app()
    async with grpc.aio.insecure_channel(app.target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _counts_are(store: TimerStore, expected: tuple[int, int]) -> bool:
    return await store.counts() == expected
