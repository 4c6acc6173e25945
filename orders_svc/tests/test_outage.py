"""A MongoDB outage longer than the old dead-letter budget (8 deliveries, ~25 s of backoff) loses no event at
orders_svc: a payment.created and an expiration.complete that arrive during it apply once the database is back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from common import events
from common.bus import EventBus, RetryPolicy
from common.testing.plugin import JwtKeys
from common.testing.servers import Restartable, RunningServer
from orders_svc.app import OrdersApp
from orders_svc.domain import OrderStatus
from orders_svc.tests.helpers import User, make_settings, reaches, status_of
from orders_svc.tests.test_events import consumed, expire, new_order, pay
from ticketstore.orders.v1 import orders_pb2_grpc

OUTAGE_SECONDS = 30.0  # longer than the old budget of 8 deliveries (~25 s of backoff)


async def test_a_mongodb_outage_longer_than_the_old_retry_budget_loses_no_payment_or_expiry(
    own_mongo: Restartable, nats_server: RunningServer, jwt_keys: JwtKeys, bus: EventBus, user: Callable[[], User]
) -> None:
    settings = make_settings(own_mongo.url, "orders", nats_server.url_as("orders_svc"), jwt_keys)
    # Fail fast while the server is away, so each delivery is one short attempt; the production retry policy.
    app = OrdersApp(settings.model_copy(update={"mongo_timeout_seconds": 1.0}), retry=RetryPolicy())
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.target) as channel:
            stub = orders_pb2_grpc.OrdersServiceStub(channel)
            paid = await new_order(app, stub, bus, user())
            expired = await new_order(app, stub, bus, user())

            own_mongo.stop()  # stopped for real; restarted below on the same port and data
            await pay(bus, paid.id)
            await expire(bus, expired.id)
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for an effect
            for stream in ("PAYMENTS", "EXPIRATION"):
                assert (await bus.js.consumer_info(stream, "orders_svc")).num_redelivered > 0  # really failed
            own_mongo.restart()

            await reaches(app, paid.id, OrderStatus.COMPLETE)
            await reaches(app, expired.id, OrderStatus.CANCELLED)
            await consumed(bus, "PAYMENTS")
            await consumed(bus, "EXPIRATION")
            assert [await status_of(app, paid.id), await status_of(app, expired.id)] == [
                (OrderStatus.COMPLETE, 1),
                (OrderStatus.CANCELLED, 1),
            ]
            assert (await bus.js.stream_info(events.DEAD_LETTERS.name)).state.messages == 0
    finally:
        await app.stop()
