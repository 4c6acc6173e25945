"""The use cases of orders_svc, one per RPC or event: a domain decision, one conditional write with its event
(store), and a fresh decision if the order changed meanwhile."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from common import paging
from common.bus import Outcome
from common.clock import Clock
from common.errors import Conflict, NotFound
from common.ids import new_id
from common.replica import await_copy
from common.retry import LostRace, retry_lost_races
from orders_svc import domain, messages
from orders_svc.domain import Order, PaymentVerdict, TicketCopy, TicketStatus
from orders_svc.store import Created, OrderStore

log = logging.getLogger(__name__)

# A conditional write misses only when the order left CREATED meanwhile, and no state leads back to CREATED,
# so the second decision is always final; the bound is a guard, not a tuning knob.
MAX_ROUNDS = 3
ORDER_NOT_FOUND = "no such order"
TICKET_NOT_FOUND = "no such ticket"


class Orders:
    def __init__(
        self,
        store: OrderStore,
        clock: Clock,
        window: dt.timedelta,
        ticket_arrival_wait: float = 2.0,
        max_active_per_buyer: int = 5,
    ) -> None:
        self._store = store
        self._max_active = max_active_per_buyer
        self._clock = clock
        self._window = window
        self._ticket_arrival_wait = ticket_arrival_wait

    # --- the API ---

    async def create(self, buyer_id: str, ticket_id: str, seen_version: int = 0) -> Order:
        """A new CREATED order of `buyer_id` for `ticket_id`, at the price of our copy of the ticket.

        A ticket listed (or changed) a moment ago may still be on its way to our copy: wait briefly for it, up to
        the version the buyer was shown, so the order records the price the buyer saw rather than an older one
        that the reservation would then refuse as stale. Past the wait, our copy decides.
        """
        seen_version = domain.seen_version(seen_version)
        ticket = await await_copy(
            lambda: self._store.ticket(ticket_id),
            self._ticket_arrival_wait,
            ready=lambda copy: copy.version >= seen_version,
        )
        if ticket is None:
            raise NotFound(TICKET_NOT_FOUND)
        holder = None
        if ticket.status is TicketStatus.RESERVED and ticket.order_id:
            holder = await self._store.get(ticket.order_id)
        domain.check_orderable(ticket, buyer_id, holder)
        order = domain.new_order(new_id(), ticket, buyer_id, self._clock(), self._window)

        async def attempt() -> Order:
            created = await self._store.create(order, self._max_active)
            if created is Created.TICKET_HELD:  # the ticket lock: one active order per ticket
                raise Conflict(domain.TICKET_RESERVED)
            if created is Created.BUYER_FULL:
                raise Conflict(domain.too_many_active(self._max_active))
            return order

        # A lost slot race only means another order of this buyer took that slot: look at the slots again.
        return await retry_lost_races(attempt, attempts=self._max_active + 2, what=f"a slot of buyer {buyer_id}")

    async def get_for(self, order_id: str, user_id: str) -> Order:
        order = await self._store.get(order_id)
        if order is None:
            raise NotFound(ORDER_NOT_FOUND)
        domain.check_buyer(order, user_id)
        return order

    async def batch_for(self, user_id: str, ids: list[str]) -> list[Order]:
        """The caller's orders among `ids` (others' orders are left out)."""
        wanted = paging.batch_ids(ids)
        return await self._store.of_user_among(user_id, wanted) if wanted else []

    async def list_for(self, user_id: str, page_size: int) -> list[Order]:
        return await self._store.newest_of_user(user_id, domain.page_size(page_size))

    async def cancel_for(self, order_id: str, user_id: str) -> Order:
        """The buyer cancels: CREATED -> CANCELLED; CANCELLED unchanged; COMPLETE refused."""

        async def attempt() -> Order:
            order = await self.get_for(order_id, user_id)
            if not domain.wants_cancel(order):
                return order
            after = domain.cancelled(order, self._clock())
            await self._store.transition(order, after)
            return after

        return await retry_lost_races(attempt, attempts=MAX_ROUNDS, what=f"order {order_id}")

    # --- events ---

    async def ticket_changed(self, ticket_id: str, version: int, fields: dict[str, Any]) -> Outcome:
        """Every change of a ticket (title, price, status, holder) is the next version of our copy. A version that
        reserves the ticket for one of our orders at a price the order did not record cancels that order (see
        domain): checked for a duplicate too, in case we stopped between applying the version and cancelling."""
        outcome = await self._store.apply_ticket(ticket_id, version, fields)
        if outcome is not Outcome.EARLY:
            ticket = messages.ticket_copy(ticket_id, version, fields)
            if ticket.order_id:
                await self._cancel_if_stale(ticket.order_id, ticket)
        return outcome

    async def _cancel_if_stale(self, order_id: str, ticket: TicketCopy) -> None:
        """Cancel `order_id` if `ticket` reserved it at a price other than the one it recorded."""

        async def attempt() -> None:
            order = await self._store.get(order_id)
            if order is None or not domain.reserved_at_other_price(order, ticket):
                return
            await self._store.transition(order, domain.cancelled(order, self._clock()))
            log.warning(
                "order %s cancelled: its ticket %s was reserved at %d cents, the order recorded %d (the seller "
                "changed the price while the order was being made)",
                order_id,
                ticket.id,
                ticket.price_cents,
                order.price_cents,
            )

        return await retry_lost_races(attempt, attempts=MAX_ROUNDS, what=f"order {order_id}")

    async def expire(self, order_id: str) -> Outcome:
        """The payment window closed: cancel the order if it is still unpaid."""
        order = await self._store.get(order_id)
        if order is None:
            # Our order.created (the only source of an expiration timer) is committed before it is published.
            log.warning("expiration for unknown order %s: ignored", order_id)
            return Outcome.DUPLICATE
        if not domain.expires(order):
            return Outcome.DUPLICATE
        try:
            await self._store.transition(order, domain.cancelled(order, self._clock()))
        except LostRace:
            return Outcome.DUPLICATE  # it was paid or cancelled meanwhile: nothing left to do
        log.info("order %s expired and was cancelled", order_id)
        return Outcome.APPLIED

    async def sweep(self, grace: dt.timedelta, limit: int = 500) -> int:
        """The safety net for a lost expiry: cancel CREATED orders whose window closed more than `grace` ago, through
        the same operation as `expiration.complete`. Returns how many it cancelled."""
        cancelled = 0
        for order_id in await self._store.overdue(self._clock() - grace, limit):
            if await self.expire(order_id) is Outcome.APPLIED:
                cancelled += 1
                log.warning("order %s was past its window and still CREATED: its expiry was lost; swept", order_id)
        return cancelled

    async def complete(self, order_id: str) -> Outcome:
        """A payment succeeded: CREATED -> COMPLETE, once our copy of the ticket shows it reserved for this order at
        the order's price (see domain.payment_verdict)."""
        order = await self._store.get(order_id)
        if order is None:
            # Payments learn of orders from our committed events, so this should not happen. Money was taken:
            # keep redelivering, and let the bus dead-letter it where an operator sees it.
            log.error("payment for unknown order %s", order_id)
            return Outcome.EARLY
        verdict = domain.payment_verdict(order, await self._store.ticket(order.ticket_id))
        if verdict is PaymentVerdict.IGNORE:
            if order.status is domain.OrderStatus.CANCELLED:
                log.warning("payment for cancelled order %s: ignored (payments refunds it)", order_id)
            return Outcome.DUPLICATE
        if verdict is PaymentVerdict.WAIT:
            return Outcome.EARLY  # the reservation is on its way (or the order will expire and be refunded)
        if verdict is PaymentVerdict.CANCEL:
            log.warning("payment for order %s, reserved at another price: cancelled (payments refunds it)", order_id)
        now = self._clock()
        after = domain.completed(order, now) if verdict is PaymentVerdict.COMPLETE else domain.cancelled(order, now)
        try:
            await self._store.transition(order, after)
        except LostRace:
            return Outcome.DUPLICATE  # expired or paid meanwhile; a cancelled order is refunded by payments
        return Outcome.APPLIED
