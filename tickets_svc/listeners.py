"""Order events -> ticket reservations. Each handler decodes, applies the versioned rule, and says what happened.

The per-order record (`order_refs`) carries the order's version, so each order event applies once and in order:
an `order.cancelled` that overtakes its `order.created` is early (redelivered later), never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from google.protobuf.message import Message

from common import events
from common.bus import Delivery, Handler, Outcome
from common.timestamps import utcnow
from tickets_svc import domain
from tickets_svc.store import TicketStore
from ticketstore.events.v1 import orders_pb2

Rule = Callable[..., domain.Decision]


class OrderListeners:
    def __init__(self, store: TicketStore) -> None:
        self._store = store

    def handlers(self) -> Mapping[str, Handler]:
        return {
            events.ORDER_CREATED: self.on_order_created,
            events.ORDER_CANCELLED: self.on_order_cancelled,
            events.ORDER_COMPLETED: self.on_order_completed,
        }

    async def on_order_created(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, orders_pb2.OrderCreated)
        return await self._apply(message.order_id, message.ticket_id, message.version, domain.on_order_created)

    async def on_order_cancelled(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, orders_pb2.OrderCancelled)
        return await self._apply(message.order_id, message.ticket_id, message.version, domain.on_order_cancelled)

    async def on_order_completed(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, orders_pb2.OrderCompleted)
        return await self._apply(message.order_id, message.ticket_id, message.version, domain.on_order_completed)

    async def _apply(self, order_id: str, ticket_id: str, version: int, rule: Rule) -> Outcome:
        def decide(ref: domain.OrderRef | None, ticket: domain.Ticket | None) -> domain.Decision:
            decision: domain.Decision = rule(order_id, ticket_id, version, ref, ticket, utcnow())
            return decision

        return await self._store.apply_order_event(order_id, ticket_id, decide)
