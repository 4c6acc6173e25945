"""A Redis outage longer than the old dead-letter budget (8 deliveries, ~25 s) loses no order.created: with the
production retry policy the events wait, are retried, and start their timers once Redis is back."""

from __future__ import annotations

import asyncio

from common import events
from common.bus import EventBus, RetryPolicy
from common.testing.poll import eventually
from common.testing.servers import RunningServer, restart
from expiration_svc.store import TimerStore
from expiration_svc.tests.helpers import StartApp, orders_consumed, publish_created

OUTAGE_SECONDS = 30.0  # longer than the old budget of 8 deliveries (~25 s of backoff)


async def test_a_redis_outage_longer_than_the_old_retry_budget_loses_no_order_created(
    redis_server: RunningServer, start_app: StartApp, bus: EventBus, store: TimerStore
) -> None:
    app = await start_app(retry=RetryPolicy())  # what production runs
    redis_server.stop()  # stopped for real; restarted below on the same port and data
    orders = [f"outage-{i}" for i in range(3)]
    for order_id in orders:
        await publish_created(bus, order_id, 4_000_000_000.0)
    await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for an effect
    info = await bus.js.consumer_info("ORDERS", "expiration_svc")
    assert info.num_redelivered > 0  # the handlers really failed meanwhile
    revived = restart(redis_server)
    try:
        await eventually(lambda: orders_consumed(bus), timeout=30, what="order.created applied after Redis is back")
        assert await store.counts() == (len(orders), 0)
        assert all([await store.due_of(order_id) is not None for order_id in orders])
        dead = await bus.js.stream_info(events.DEAD_LETTERS.name)
        assert dead.state.messages == 0
    finally:
        await app.stop()
        revived.stop()
