"""What the orders store reads back after a change is what was written: times stay timezone-aware datetimes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from common.bus import EventBus
from common.clock import ManualClock
from orders_svc.app import OrdersApp
from orders_svc.domain import OrderStatus
from orders_svc.tests.helpers import User, seed_ticket
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc


async def test_a_cancelled_order_reads_back_with_real_datetimes(
    app: OrdersApp,
    orders: orders_pb2_grpc.OrdersServiceAsyncStub,
    events_bus: EventBus,
    user: Callable[[], User],
    clock: ManualClock,
) -> None:
    buyer = user()
    ticket = await seed_ticket(app, events_bus)
    reply = await orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=ticket.id), metadata=buyer.metadata)
    created_at = clock()
    clock.advance(42.5)
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(id=reply.order.id), metadata=buyer.metadata)

    stored = await app.store.get(reply.order.id)

    assert stored is not None and stored.status is OrderStatus.CANCELLED
    for moment in (stored.updated_at, stored.created_at, stored.expires_at):
        assert isinstance(moment, dt.datetime)
        assert moment.utcoffset() == dt.timedelta(0)
    assert stored.updated_at == clock()  # written by an update ($set), not only by an insert
    assert stored.created_at == created_at
    assert stored.updated_at - stored.created_at == dt.timedelta(seconds=42.5)
