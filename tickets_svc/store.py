"""Ticket storage in the tickets database, and the only module that knows its collections.

    tickets     {_id, title, price_cents, seller_id, status, order_id, version, created_at, updated_at, list_key}
    order_refs  {_id: order id, ticket_id, version}: the last version of each order event applied here
    outbox      pending events (common.outbox), written in the same transaction as the ticket

Every ticket change is one conditional write on the version it was read at, committed together with its
`ticket.updated` (or `ticket.created`) event; the relay is woken after commit.

Two choices keep this portable to the dev/test server (nx-27017), which stores a datetime written through `$set`
as a string and cannot compare dates in queries: a ticket is rewritten whole (`replace_one` on {_id, version}),
and the listing orders and pages on `list_key`, a string that sorts like (created_at, _id).
It also cannot interleave transactions on one database; common.mongo.in_transaction takes care of that. Correctness
never rests on that: every write is conditional on the version it read, which is what protects across processes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from common import events
from common.bus import Outcome
from common.errors import NotFound
from common.mongo import Document, in_transaction
from common.outbox import Outbox
from tickets_svc import messages
from tickets_svc.domain import Cursor, Decision, OrderRef, Ticket, TicketStatus, list_key

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ATTEMPTS = 8  # conditional writes that lost a race are re-read and retried this often

Decide = Callable[[OrderRef | None, Ticket | None], Decision]


class _Stale(Exception):
    """A conditional write found a newer version than the one read: retry the whole transaction."""


def _ticket(document: Document) -> Ticket:
    return Ticket(
        id=document["_id"],
        title=document["title"],
        price_cents=int(document["price_cents"]),
        seller_id=document["seller_id"],
        status=TicketStatus(document["status"]),
        order_id=document.get("order_id") or "",
        version=int(document["version"]),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
    )


def _document(ticket: Ticket) -> Document:
    return {
        "_id": ticket.id,
        "title": ticket.title,
        "price_cents": ticket.price_cents,
        "seller_id": ticket.seller_id,
        "status": ticket.status.value,
        "order_id": ticket.order_id,
        "version": ticket.version,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "list_key": list_key(ticket.created_at, ticket.id),
    }


class TicketStore:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str, outbox: Callable[[], Outbox]) -> None:
        self._client = client
        self._tickets = client[db_name]["tickets"]
        self._refs = client[db_name]["order_refs"]
        self._outbox = outbox  # a getter: the runtime's outbox exists once the bus is connected

    async def ensure_indexes(self) -> None:
        # The listing: AVAILABLE tickets, newest first, i.e. (status, created_at desc, _id desc) as one key.
        await self._tickets.create_index([("status", ASCENDING), ("list_key", DESCENDING)])
        await self._tickets.create_index([("seller_id", ASCENDING)])
        await self._refs.create_index([("ticket_id", ASCENDING)])  # also makes the collection exist

    # --- reads ---

    async def get(self, ticket_id: str) -> Ticket | None:
        document = await self._tickets.find_one({"_id": ticket_id})
        return None if document is None else _ticket(document)

    async def get_many(self, ticket_ids: list[str]) -> list[Ticket]:
        if not ticket_ids:
            return []
        return [_ticket(d) async for d in self._tickets.find({"_id": {"$in": ticket_ids}})]

    async def list_available(self, limit: int, after: Cursor | None) -> list[Ticket]:
        """Up to `limit` AVAILABLE tickets, newest first, strictly after `after` in that order."""
        query: Document = {"status": TicketStatus.AVAILABLE.value}
        if after is not None:
            query["list_key"] = {"$lt": list_key(after.created_at, after.ticket_id)}
        cursor = self._tickets.find(query).sort("list_key", DESCENDING).limit(limit)
        return [_ticket(d) async for d in cursor]

    async def order_ref(self, order_id: str) -> OrderRef | None:
        document = await self._refs.find_one({"_id": order_id})
        return None if document is None else _ref(document)

    # --- writes (each with its event, in one transaction) ---

    async def create(self, ticket: Ticket) -> Ticket:
        async def work(session: AsyncClientSession) -> Ticket:
            await self._tickets.insert_one(_document(ticket), session=session)
            await self._outbox().add(session, events.TICKET_CREATED, messages.created_event(ticket), ticket.id, 0)
            return ticket

        created = await self._transaction(work)
        self._outbox().notify()
        return created

    async def update(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket:
        """Apply `change` (a domain rule that may refuse) to the current ticket as its next version."""

        async def work(session: AsyncClientSession) -> Ticket:
            document = await self._tickets.find_one({"_id": ticket_id}, session=session)
            if document is None:
                raise NotFound("no such ticket")
            current = _ticket(document)
            changed = change(current)
            await self._write(session, current, changed)
            return changed

        result = await self._retrying(work)
        self._outbox().notify()
        return result

    async def apply_order_event(self, order_id: str, ticket_id: str, decide: Decide) -> Outcome:
        """Read the order's record and its ticket, let `decide` rule, and write what it says, atomically."""

        async def work(session: AsyncClientSession) -> Decision:
            ref_document = await self._refs.find_one({"_id": order_id}, session=session)
            ref = None if ref_document is None else _ref(ref_document)
            document = await self._tickets.find_one({"_id": ref.ticket_id if ref else ticket_id}, session=session)
            ticket = None if document is None else _ticket(document)
            decision = decide(ref, ticket)
            if decision.ref is not None:
                await self._write_ref(session, ref, decision.ref)
            if decision.ticket is not None:
                assert ticket is not None
                await self._write(session, ticket, decision.ticket)
            return decision

        decision = await self._retrying(work)
        if decision.ticket is not None:
            self._outbox().notify()
        return decision.outcome

    # --- helpers ---

    async def _write(self, session: AsyncClientSession, current: Ticket, changed: Ticket) -> None:
        """`changed` replaces `current` only if nobody changed it since it was read; its event goes with it."""
        result = await self._tickets.replace_one(
            {"_id": current.id, "version": current.version}, _document(changed), session=session
        )
        if result.matched_count != 1:
            raise _Stale(current.id)
        event = messages.updated_event(changed)
        await self._outbox().add(session, events.TICKET_UPDATED, event, changed.id, changed.version)

    async def _write_ref(self, session: AsyncClientSession, current: OrderRef | None, new: OrderRef) -> None:
        if current is None:
            document = {"_id": new.order_id, "ticket_id": new.ticket_id, "version": new.version}
            await self._refs.insert_one(document, session=session)  # a concurrent twin fails on the unique _id
            return
        result = await self._refs.update_one(
            {"_id": current.order_id, "version": current.version}, {"$set": {"version": new.version}}, session=session
        )
        if result.matched_count != 1:
            raise _Stale(current.order_id)

    async def _transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        return await in_transaction(self._client, work)

    async def _retrying(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await self._transaction(work)
            except _Stale as stale:
                if attempt == MAX_ATTEMPTS:
                    raise RuntimeError(f"{stale} kept changing under {MAX_ATTEMPTS} attempts") from stale
                log.info("%s changed concurrently; retrying (attempt %d)", stale, attempt)
        raise AssertionError("unreachable")


def _ref(document: Document) -> OrderRef:
    return OrderRef(document["_id"], document["ticket_id"], int(document["version"]))
