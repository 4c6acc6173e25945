"""Order events start and stop timers (see operations).

No versioned replica is needed: a timer has no fields to update, only "exists" or "closed", and both changes are
idempotent.
"""

from __future__ import annotations

from common.bus import Delivery, Handlers, Outcome
from common.order_events import order_event_handlers
from expiration_svc.domain import due_ms
from expiration_svc.operations import Timers
from ticketstore.events.v1 import orders_pb2


class Listeners:
    def __init__(self, timers: Timers) -> None:
        self._timers = timers

    def handlers(self) -> Handlers:
        return order_event_handlers(self)

    async def on_order_created(self, message: orders_pb2.OrderCreated, delivery: Delivery) -> Outcome:
        return await self._timers.start(message.order_id, due_ms(message.expire_time))

    async def on_order_cancelled(self, message: orders_pb2.OrderCancelled, delivery: Delivery) -> Outcome:
        return await self._timers.stop(message.order_id)

    async def on_order_completed(self, message: orders_pb2.OrderCompleted, delivery: Delivery) -> Outcome:
        return await self._timers.stop(message.order_id)
