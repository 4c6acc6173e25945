"""The sweep: an order whose expiry announcement never comes (no expiration service at all here) is still
cancelled once its window closed more than the grace ago, with its order.cancelled event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from common import events
from common.bus import EventBus
from common.clock import ManualClock
from common.testing.plugin import JwtKeys
from common.testing.retry import FAST_RETRY
from common.testing.servers import RunningServer
from orders_svc.app import OrdersApp
from orders_svc.domain import OrderStatus
from orders_svc.tests.helpers import START, User, make_settings, published, reaches, seed_ticket, status_of
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc

GRACE = 30.0


async def test_an_order_whose_timer_never_fires_is_cancelled_by_the_sweep(
    mongo_server: RunningServer,
    mongo_db: str,
    nats_server: RunningServer,
    jwt_keys: JwtKeys,
    bus: EventBus,
    user: Callable[[], User],
) -> None:
    settings = make_settings(mongo_server.url, mongo_db, nats_server.url_as("orders_svc"), jwt_keys).model_copy(
        update={"sweep_interval_seconds": 0.1, "sweep_grace_seconds": GRACE}
    )
    clock = ManualClock(START)
    app = OrdersApp(settings, retry=FAST_RETRY, clock=clock)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.target) as channel:
            orders = orders_pb2_grpc.OrdersServiceStub(channel)
            buyer = user()
            tickets = [await seed_ticket(app, bus) for _ in range(2)]
            created = [
                (await orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=t.id), metadata=buyer.metadata)).order
                for t in tickets
            ]
            late, twin = created
            # Only the first order's window has closed (the second was made later): nobody announces its expiry.
            clock.advance(60)
            second = await orders.CreateOrder(
                orders_pb2.CreateOrderRequest(ticket_id=(await seed_ticket(app, bus)).id), metadata=buyer.metadata
            )
            clock.advance(settings.order_expiration_seconds - 60 + 1)  # the first window closed, within the grace
            await asyncio.sleep(0.5)  # several sweep rounds
            assert await status_of(app, late.id) == (OrderStatus.CREATED, 0)
            clock.advance(GRACE)  # now past the grace
            await reaches(app, late.id, OrderStatus.CANCELLED)
            await reaches(app, twin.id, OrderStatus.CANCELLED)  # made at the same moment as `late`
            assert await status_of(app, second.order.id) == (OrderStatus.CREATED, 0)  # its window is still open
            found = await published(app, bus, [late.id])
            assert [subject for subject, _ in found] == [events.ORDER_CREATED, events.ORDER_CANCELLED]
            reply = await orders.GetOrder(orders_pb2.GetOrderRequest(id=late.id), metadata=buyer.metadata)
            assert reply.order.status == orders_pb2.ORDER_STATUS_CANCELLED
    finally:
        await app.stop()
