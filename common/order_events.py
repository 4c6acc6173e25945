"""The three order events that tickets, payments and expiration all follow, registered in one place."""

from __future__ import annotations

from typing import Protocol

from common import events
from common.bus import Delivery, Handlers, LaneKey, Outcome
from ticketstore.events.v1 import orders_pb2

OrderEvent = orders_pb2.OrderCreated | orders_pb2.OrderCancelled | orders_pb2.OrderCompleted


class OrderEventListener(Protocol):
    async def on_order_created(self, message: orders_pb2.OrderCreated, delivery: Delivery) -> Outcome: ...
    async def on_order_cancelled(self, message: orders_pb2.OrderCancelled, delivery: Delivery) -> Outcome: ...
    async def on_order_completed(self, message: orders_pb2.OrderCompleted, delivery: Delivery) -> Outcome: ...


def order_event_handlers(listener: OrderEventListener, key: LaneKey[OrderEvent] | None = None) -> Handlers:
    """`key`: the entity whose events are handled in order (common.bus lanes); the order itself by default."""
    return (
        Handlers()
        .on(events.ORDER_CREATED, listener.on_order_created, key)
        .on(events.ORDER_CANCELLED, listener.on_order_cancelled, key)
        .on(events.ORDER_COMPLETED, listener.on_order_completed, key)
    )
