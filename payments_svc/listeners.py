"""ORDERS events -> the order replica (versioned), and refunds for orders cancelled after they were charged."""

from __future__ import annotations

import logging

from common.bus import Delivery, Handlers, Outcome
from common.order_events import order_event_handlers
from payments_svc import messages
from payments_svc.operations import LeaseBusy, Payments
from ticketstore.events.v1 import orders_pb2

log = logging.getLogger(__name__)


class Listeners:
    def __init__(self, payments: Payments) -> None:
        self._payments = payments

    def handlers(self) -> Handlers:
        return order_event_handlers(self)

    async def on_order_created(self, message: orders_pb2.OrderCreated, delivery: Delivery) -> Outcome:
        return await self._payments.order_created(message.order_id, message.version, messages.order_fields(message))

    async def on_order_cancelled(self, message: orders_pb2.OrderCancelled, delivery: Delivery) -> Outcome:
        try:
            return await self._payments.order_cancelled(message.order_id, message.version)
        except LeaseBusy:
            log.info("order %s: a payment is in progress; its refund check is redelivered later", message.order_id)
            return Outcome.EARLY

    async def on_order_completed(self, message: orders_pb2.OrderCompleted, delivery: Delivery) -> Outcome:
        return await self._payments.order_completed(message.order_id, message.version)
