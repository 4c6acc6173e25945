"""ORDERS events -> the order replica (versioned), and refunds for orders cancelled after they were charged."""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from common import events
from common.bus import Delivery, Handler, Outcome
from common.timestamps import from_timestamp
from payments_svc.domain import OrderStatus
from payments_svc.processor import LeaseBusy, PaymentProcessor
from payments_svc.store import PaymentsStore
from ticketstore.events.v1 import orders_pb2

log = logging.getLogger(__name__)


class OrderListeners:
    def __init__(self, store: PaymentsStore, processor: PaymentProcessor) -> None:
        self._store = store
        self._processor = processor

    def handlers(self) -> dict[str, Handler]:
        return {
            events.ORDER_CREATED: self.on_created,
            events.ORDER_CANCELLED: self.on_cancelled,
            events.ORDER_COMPLETED: self.on_completed,
        }

    async def on_created(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, orders_pb2.OrderCreated)
        return await self._store.apply_order(
            message.order_id,
            message.version,
            {
                "user_id": message.user_id,
                "ticket_id": message.ticket_id,
                "price_cents": message.price_cents,
                "expires_at": from_timestamp(message.expire_time),
                "status": OrderStatus.CREATED.value,
            },
        )

    async def on_cancelled(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, orders_pb2.OrderCancelled)
        outcome = await self._store.apply_order(
            message.order_id, message.version, {"status": OrderStatus.CANCELLED.value}
        )
        if outcome is Outcome.EARLY:
            return outcome
        # Also on a duplicate: a redelivery after a failed refund must try the refund again.
        try:
            await self._processor.settle_cancelled(message.order_id)
        except LeaseBusy:
            log.info("order %s: a payment is in progress; its refund check is redelivered later", message.order_id)
            return Outcome.EARLY
        return outcome

    async def on_completed(self, message: Message, delivery: Delivery) -> Outcome:
        assert isinstance(message, orders_pb2.OrderCompleted)
        return await self._store.apply_order(message.order_id, message.version, {"status": OrderStatus.COMPLETE.value})
