"""The order state changes, shared by the gRPC API and the event listeners: a domain decision, one conditional
write with its event in a transaction (store), and a fresh decision if the order changed meanwhile."""

from __future__ import annotations

import datetime as dt
import logging

from common import events
from common.bus import Outcome
from common.errors import NotFound
from common.ids import new_id
from common.replica import await_copy
from common.timestamps import to_timestamp
from orders_svc import domain
from orders_svc.domain import Clock, Order, TicketStatus
from orders_svc.store import OrderStore, PendingEvent
from ticketstore.events.v1 import orders_pb2 as order_events

log = logging.getLogger(__name__)

# A conditional write misses only when the order left CREATED meanwhile, and no state leads back to CREATED,
# so the second decision is always final; the bound is a guard, not a tuning knob.
MAX_ROUNDS = 3
ORDER_NOT_FOUND = "no such order"
TICKET_NOT_FOUND = "no such ticket"


def created_event(order: Order) -> PendingEvent:
    message = order_events.OrderCreated(
        order_id=order.id,
        user_id=order.user_id,
        ticket_id=order.ticket_id,
        price_cents=order.price_cents,
        expire_time=to_timestamp(order.expires_at),
        version=order.version,
        occur_time=to_timestamp(order.created_at),
    )
    return PendingEvent(events.ORDER_CREATED, message, order.id, order.version)


def cancelled_event(order: Order, trace_id: str | None = None) -> PendingEvent:
    message = order_events.OrderCancelled(
        order_id=order.id,
        user_id=order.user_id,
        ticket_id=order.ticket_id,
        version=order.version,
        occur_time=to_timestamp(order.updated_at),
    )
    return PendingEvent(events.ORDER_CANCELLED, message, order.id, order.version, trace_id)


def completed_event(order: Order, trace_id: str | None = None) -> PendingEvent:
    message = order_events.OrderCompleted(
        order_id=order.id,
        user_id=order.user_id,
        ticket_id=order.ticket_id,
        version=order.version,
        occur_time=to_timestamp(order.updated_at),
    )
    return PendingEvent(events.ORDER_COMPLETED, message, order.id, order.version, trace_id)


class Orders:
    def __init__(self, store: OrderStore, clock: Clock, window: dt.timedelta, ticket_arrival_wait: float = 2.0) -> None:
        self._store = store
        self._clock = clock
        self._window = window
        self._ticket_arrival_wait = ticket_arrival_wait

    async def create(self, buyer_id: str, ticket_id: str) -> Order:
        # A ticket listed a moment ago may still be on its way to our replica: wait for it briefly.
        ticket = await await_copy(lambda: self._store.ticket(ticket_id), self._ticket_arrival_wait)
        if ticket is None:
            raise NotFound(TICKET_NOT_FOUND)
        holder = None
        if ticket.status is TicketStatus.RESERVED and ticket.order_id:
            holder = await self._store.get(ticket.order_id)
        domain.check_orderable(ticket, buyer_id, holder)
        order = domain.new_order(new_id(), ticket, buyer_id, self._clock(), self._window)
        await self._store.create(order, created_event(order))  # Conflict when another order holds the ticket
        return order

    async def get_for(self, order_id: str, user_id: str) -> Order:
        order = await self._store.get(order_id)
        if order is None:
            raise NotFound(ORDER_NOT_FOUND)
        domain.check_buyer(order, user_id)
        return order

    async def cancel_for(self, order_id: str, user_id: str) -> Order:
        """The buyer cancels: CREATED -> CANCELLED; CANCELLED unchanged; COMPLETE refused."""
        for _ in range(MAX_ROUNDS):
            order = await self.get_for(order_id, user_id)
            if not domain.wants_cancel(order):
                return order
            after = domain.cancelled(order, self._clock())
            if await self._store.transition(order, after, cancelled_event(after)):
                return after
        raise RuntimeError(f"order {order_id} kept changing while being cancelled")

    async def expire(self, order_id: str, trace_id: str | None = None) -> Outcome:
        """The payment window closed: cancel the order if it is still unpaid."""
        order = await self._store.get(order_id)
        if order is None:
            # Our order.created (the only source of an expiration timer) is committed before it is published.
            log.warning("expiration for unknown order %s: ignored", order_id)
            return Outcome.DUPLICATE
        if not domain.expires(order):
            return Outcome.DUPLICATE
        after = domain.cancelled(order, self._clock())
        if await self._store.transition(order, after, cancelled_event(after, trace_id)):
            log.info("order %s expired and was cancelled", order_id)
            return Outcome.APPLIED
        return Outcome.DUPLICATE  # it was paid or cancelled meanwhile: nothing left to do

    async def complete(self, order_id: str, trace_id: str | None = None) -> Outcome:
        """A payment succeeded: CREATED -> COMPLETE."""
        order = await self._store.get(order_id)
        if order is None:
            # Payments learn of orders from our committed events, so this should not happen. Money was taken:
            # keep redelivering, and let the bus dead-letter it where an operator sees it.
            log.error("payment for unknown order %s", order_id)
            return Outcome.EARLY
        if not domain.completes(order):
            if order.status is domain.OrderStatus.CANCELLED:
                log.warning("payment for cancelled order %s: ignored (payments refunds it)", order_id)
            return Outcome.DUPLICATE
        after = domain.completed(order, self._clock())
        if await self._store.transition(order, after, completed_event(after, trace_id)):
            return Outcome.APPLIED
        return Outcome.DUPLICATE  # expired or paid meanwhile; a cancelled order is refunded by payments
