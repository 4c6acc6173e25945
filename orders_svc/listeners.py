"""Event handlers: the ticket replica (TICKETS), expired payment windows (EXPIRATION), payments (PAYMENTS)."""

from __future__ import annotations

from common import events
from common.bus import Delivery, Handlers, Outcome
from orders_svc import messages
from orders_svc.operations import Orders
from ticketstore.events.v1 import expiration_pb2, payments_pb2, tickets_pb2


class Listeners:
    def __init__(self, orders: Orders) -> None:
        self._orders = orders

    def handlers(self) -> Handlers:
        return (
            Handlers()
            .on(events.TICKET_CREATED, self.on_ticket_created)
            .on(events.TICKET_UPDATED, self.on_ticket_updated)
            .on(events.EXPIRATION_COMPLETE, self.on_expiration_complete)
            .on(events.PAYMENT_CREATED, self.on_payment_created)
        )

    async def on_ticket_created(self, message: tickets_pb2.TicketCreated, delivery: Delivery) -> Outcome:
        fields = messages.ticket_fields(message, order_id="")
        return await self._orders.ticket_changed(message.ticket_id, message.version, fields)

    async def on_ticket_updated(self, message: tickets_pb2.TicketUpdated, delivery: Delivery) -> Outcome:
        fields = messages.ticket_fields(message, order_id=message.order_id)
        return await self._orders.ticket_changed(message.ticket_id, message.version, fields)

    async def on_expiration_complete(self, message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        return await self._orders.expire(message.order_id)

    async def on_payment_created(self, message: payments_pb2.PaymentCreated, delivery: Delivery) -> Outcome:
        return await self._orders.complete(message.order_id)
