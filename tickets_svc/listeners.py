"""Order events -> ticket reservations (see operations). The per-order record carries the order's version, so
each order event applies once and in order: an `order.cancelled` that overtakes its `order.created` is early
(redelivered later), never lost."""

from __future__ import annotations

from common.bus import Delivery, Handlers, Outcome
from common.order_events import order_event_handlers
from tickets_svc.operations import Tickets
from ticketstore.events.v1 import orders_pb2


class Listeners:
    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    def handlers(self) -> Handlers:
        # The events of one ticket stay in order (not only those of one order): an order.created that overtook
        # the previous holder's order.cancelled would only be early.
        return order_event_handlers(self, key=lambda message: message.ticket_id)

    async def on_order_created(self, message: orders_pb2.OrderCreated, delivery: Delivery) -> Outcome:
        return await self._tickets.order_created(message.order_id, message.ticket_id, message.version)

    async def on_order_cancelled(self, message: orders_pb2.OrderCancelled, delivery: Delivery) -> Outcome:
        return await self._tickets.order_cancelled(message.order_id, message.ticket_id, message.version)

    async def on_order_completed(self, message: orders_pb2.OrderCompleted, delivery: Delivery) -> Outcome:
        return await self._tickets.order_completed(message.order_id, message.ticket_id, message.version)
