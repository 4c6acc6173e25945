"""Event handlers: the ticket replica (TICKETS), expired payment windows (EXPIRATION), payments (PAYMENTS)."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from common import events
from common.bus import Delivery, Handler, Outcome
from orders_svc.domain import TicketStatus
from orders_svc.store import OrderStore
from orders_svc.workflow import Orders
from ticketstore.events.v1 import expiration_pb2, payments_pb2, tickets_pb2
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api


def _status(value: tickets_api.TicketStatus.ValueType) -> str:
    try:
        name = tickets_api.TicketStatus.Name(value)
    except ValueError:  # a status newer than our contract: never orderable
        return TicketStatus.UNKNOWN.value
    return TicketStatus.parse(name).value


def _ticket_fields(message: tickets_pb2.TicketCreated | tickets_pb2.TicketUpdated) -> dict[str, Any]:
    return {
        "title": message.title,
        "price_cents": message.price_cents,
        "seller_id": message.seller_id,
        "status": _status(message.status),
    }


class Listeners:
    def __init__(self, store: OrderStore, orders: Orders) -> None:
        self._store = store
        self._orders = orders

    def ticket_handlers(self) -> dict[str, Handler]:
        return {events.TICKET_CREATED: self.ticket_created, events.TICKET_UPDATED: self.ticket_updated}

    def expiration_handlers(self) -> dict[str, Handler]:
        return {events.EXPIRATION_COMPLETE: self.expiration_complete}

    def payment_handlers(self) -> dict[str, Handler]:
        return {events.PAYMENT_CREATED: self.payment_created}

    async def ticket_created(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, tickets_pb2.TicketCreated)
        fields = {**_ticket_fields(message), "order_id": ""}
        return await self._store.apply_ticket(message.ticket_id, message.version, fields)

    async def ticket_updated(self, message: Message, delivery: Delivery) -> Outcome:
        """Every change of a ticket (title, price, status, holder) is the next version of our copy."""
        assert isinstance(message, tickets_pb2.TicketUpdated)
        fields = {**_ticket_fields(message), "order_id": message.order_id}
        return await self._store.apply_ticket(message.ticket_id, message.version, fields)

    async def expiration_complete(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, expiration_pb2.ExpirationComplete)
        return await self._orders.expire(message.order_id, delivery.trace_id or None)

    async def payment_created(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, payments_pb2.PaymentCreated)
        return await self._orders.complete(message.order_id, delivery.trace_id or None)
