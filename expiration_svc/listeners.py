"""Order events start and stop timers.

order.created starts the order's timer (keyed by order id: a duplicate collapses into the one timer);
order.cancelled / order.completed drop it and remember the order as closed, so an order.created that is
redelivered after them cannot start the timer again. No versioned replica is needed: a timer has no fields to
update, only "exists" or "closed", and both changes are idempotent.
"""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from common import events
from common.bus import Delivery, Handler, Outcome
from expiration_svc.domain import due_ms
from expiration_svc.scheduler import Scheduler
from ticketstore.events.v1 import orders_pb2

log = logging.getLogger(__name__)


class OrderListeners:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def handlers(self) -> dict[str, Handler]:
        return {
            events.ORDER_CREATED: self.on_created,
            events.ORDER_CANCELLED: self.on_closed,
            events.ORDER_COMPLETED: self.on_closed,
        }

    async def on_created(self, message: Message, delivery: Delivery) -> Outcome:
        if not isinstance(message, orders_pb2.OrderCreated):
            raise TypeError(f"{delivery.subject} carries {type(message).__name__}")
        added = await self._scheduler.add(message.order_id, due_ms(message.expire_time))
        return Outcome.APPLIED if added else Outcome.DUPLICATE

    async def on_closed(self, message: Message, delivery: Delivery) -> Outcome:
        if not isinstance(message, orders_pb2.OrderCancelled | orders_pb2.OrderCompleted):
            raise TypeError(f"{delivery.subject} carries {type(message).__name__}")
        dropped = await self._scheduler.drop(message.order_id)
        log.debug("%s %s: timer %s", delivery.subject, message.order_id, "dropped" if dropped else "absent")
        return Outcome.APPLIED
