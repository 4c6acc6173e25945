"""The use cases of tickets_svc, one per RPC or event: read, let the domain rule, write (one transaction with
its event, see store), and on a lost write race read and rule again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from common import paging
from common.bus import Outcome
from common.clock import Clock
from common.errors import InvalidInput, NotFound, PermanentFailure
from common.ids import check_id, new_id
from common.retry import retry_lost_races
from tickets_svc import domain
from tickets_svc.domain import Cursor, Decision, OrderRef, Ticket
from tickets_svc.store import TicketStore

# domain.on_order_created / on_order_cancelled / on_order_completed
OrderRule = Callable[[str, str, int, OrderRef | None, Ticket | None, dt.datetime], Decision]
MAX_ATTEMPTS = 8  # conditional writes that lost a race are re-read and retried this often
NO_SUCH_TICKET = "no such ticket"


class Tickets:
    def __init__(self, store: TicketStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # --- the API ---

    async def create(self, seller_id: str, title: str, price_cents: int) -> Ticket:
        data = domain.validate_ticket_input(title, price_cents)
        return await self._store.create(domain.new_ticket(new_id(), seller_id, data, self._clock()))

    async def update(self, caller_id: str, ticket_id: str, title: str, price_cents: int) -> Ticket:
        """The seller's edit as the ticket's next version (a domain rule may refuse it)."""
        ticket_id, data = domain.validate_update(ticket_id, title, price_cents)

        async def attempt() -> Ticket:
            current = await self._store.get(ticket_id)
            if current is None:
                raise NotFound(NO_SUCH_TICKET)
            changed = domain.updated_ticket(current, caller_id, data, self._clock())
            await self._store.replace(current, changed)
            return changed

        return await retry_lost_races(attempt, attempts=MAX_ATTEMPTS, what=f"ticket {ticket_id}")

    async def get(self, ticket_id: str) -> Ticket:
        ticket = await self._store.get(check_id(ticket_id, "id"))
        if ticket is None:
            raise NotFound(NO_SUCH_TICKET)
        return ticket

    async def get_many(self, ticket_ids: list[str]) -> list[Ticket]:
        return await self._store.get_many(paging.batch_ids(ticket_ids))

    async def list_available(self, page_size: int, after: str) -> tuple[list[Ticket], bool]:
        """One page of the listing and whether another page follows."""
        size = domain.page_size(page_size)
        cursor: Cursor | None = domain.decode_cursor(after) if after else None
        found = await self._store.list_available(size + 1, cursor)  # one more tells whether a next page exists
        return found[:size], len(found) > size

    # --- order events: the tickets service keeps a versioned record per order (see domain) ---

    async def order_created(self, order_id: str, ticket_id: str, version: int) -> Outcome:
        return await self._order_event(order_id, ticket_id, version, domain.on_order_created)

    async def order_cancelled(self, order_id: str, ticket_id: str, version: int) -> Outcome:
        return await self._order_event(order_id, ticket_id, version, domain.on_order_cancelled)

    async def order_completed(self, order_id: str, ticket_id: str, version: int) -> Outcome:
        return await self._order_event(order_id, ticket_id, version, domain.on_order_completed)

    async def _order_event(self, order_id: str, ticket_id: str, version: int, rule: OrderRule) -> Outcome:
        """Read the order's record and its ticket (one read), let `rule` decide, and write what it says (one
        conditional write)."""
        try:
            check_id(order_id, "order_id")  # it names a field of the ticket document (see store)
        except InvalidInput as error:
            raise PermanentFailure(f"order event with a malformed order id {order_id!r}") from error

        async def attempt() -> Outcome:
            ref, ticket = await self._store.order_state(order_id, ticket_id)
            decision = rule(order_id, ticket_id, version, ref, ticket, self._clock())
            if decision.ref is not None:
                if ticket is None:  # the rules record an order only on a ticket they saw
                    raise PermanentFailure(f"order {order_id}: a record to write without its ticket {ticket_id}")
                await self._store.save_order_event(ref, decision.ref, ticket, decision.ticket)
            return decision.outcome

        return await retry_lost_races(attempt, attempts=MAX_ATTEMPTS, what=f"order {order_id}")
