"""Storage in the orders database: orders, the ticket replica and the ticket locks.

Collections:
    orders        {_id, user_id, ticket_id, status, price_cents, expires_at, version, created_at, updated_at}
    tickets       {_id, title, price_cents, seller_id, status, order_id, version}   (replica of tickets_svc)
    ticket_locks  {_id: ticket_id, order_id}   one per ticket held by an active (CREATED or COMPLETE) order

At most one active order per ticket is the unique `_id` of `ticket_locks`: the lock is inserted in the same
transaction as the order and its `order.created` event, so a second order for a held ticket fails with a duplicate
key, never a read-then-write race. Every state change is a conditional update on (status, version) in a
transaction with its outbox event, so concurrent cancel / expiry / payment cannot both apply.

Every write goes through `in_transaction` or `apply_versioned`, which take the process's write turn on a server
that does not isolate transactions (the embedded nx-27017; see common.mongo.exclusive).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from common.bus import Outcome
from common.errors import Conflict
from common.mongo import Document, in_transaction
from common.outbox import Outbox
from common.replica import apply_versioned
from orders_svc.domain import TICKET_RESERVED, Order, OrderStatus, TicketCopy, TicketStatus

T = TypeVar("T")


@dataclass(frozen=True)
class PendingEvent:
    """An event to commit with the entity write that causes it."""

    subject: str
    message: Message
    entity_id: str
    version: int
    trace_id: str | None = None


def _order(document: Document) -> Order:
    return Order(
        id=document["_id"],
        user_id=document["user_id"],
        ticket_id=document["ticket_id"],
        status=OrderStatus(document["status"]),
        price_cents=int(document["price_cents"]),
        expires_at=document["expires_at"],
        version=int(document["version"]),
        created_at=document["created_at"],
        updated_at=document.get("updated_at") or document["created_at"],
    )


def _order_document(order: Order) -> Document:
    return {
        "_id": order.id,
        "user_id": order.user_id,
        "ticket_id": order.ticket_id,
        "status": order.status.value,
        "price_cents": order.price_cents,
        "expires_at": order.expires_at,
        "version": order.version,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def _ticket(document: Document) -> TicketCopy:
    return TicketCopy(
        id=document["_id"],
        title=document.get("title", ""),
        price_cents=int(document.get("price_cents", 0)),
        seller_id=document.get("seller_id", ""),
        status=TicketStatus.parse(document.get("status", "")),
        version=int(document["version"]),
        order_id=document.get("order_id", ""),
    )


class OrderStore:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str, outbox: Callable[[], Outbox]) -> None:
        self._client = client
        db = client[db_name]
        self._orders = db["orders"]
        self._tickets = db["tickets"]
        self._locks = db["ticket_locks"]
        self._outbox = outbox

    async def ensure_indexes(self) -> None:
        await self._orders.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
        await self._orders.create_index("ticket_id")
        await self._tickets.create_index("seller_id")
        await self._locks.create_index("order_id")

    # --- ticket replica ---

    async def apply_ticket(self, ticket_id: str, version: int, fields: dict[str, Any]) -> Outcome:
        """Version `version` of a ticket, applied only if it is the next one of our copy (see common.replica)."""
        return await apply_versioned(self._tickets, ticket_id, version, fields)

    async def ticket(self, ticket_id: str) -> TicketCopy | None:
        document = await self._tickets.find_one({"_id": ticket_id})
        return None if document is None else _ticket(document)

    # --- reads ---

    async def get(self, order_id: str) -> Order | None:
        document = await self._orders.find_one({"_id": order_id})
        return None if document is None else _order(document)

    async def of_user_among(self, user_id: str, ids: list[str]) -> list[Order]:
        return [_order(d) async for d in self._orders.find({"_id": {"$in": ids}, "user_id": user_id})]

    async def newest_of_user(self, user_id: str, limit: int) -> list[Order]:
        cursor = self._orders.find({"user_id": user_id}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return [_order(d) async for d in cursor.limit(limit)]

    async def lock_holder(self, ticket_id: str) -> str | None:
        """The active order holding `ticket_id`, if any."""
        document = await self._locks.find_one({"_id": ticket_id})
        return None if document is None else str(document["order_id"])

    # --- writes: entity, lock and event in one transaction ---

    async def create(self, order: Order, event: PendingEvent) -> None:
        """Insert a CREATED order with its ticket lock and its event; Conflict if the ticket is already held."""

        async def work(session: AsyncClientSession) -> None:
            await self._locks.insert_one({"_id": order.ticket_id, "order_id": order.id}, session=session)
            await self._orders.insert_one(_order_document(order), session=session)
            await self._add(session, event)

        try:
            await self._commit(work)
        except DuplicateKeyError as exc:
            raise Conflict(TICKET_RESERVED) from exc

    async def transition(self, before: Order, after: Order, event: PendingEvent) -> bool:
        """Move `before` to `after` if the order is still exactly `before` (status and version); False if it changed
        meanwhile. Leaving the active states releases the ticket lock, if this order still holds it."""

        async def work(session: AsyncClientSession) -> bool:
            result = await self._orders.update_one(
                {"_id": before.id, "status": before.status.value, "version": before.version},
                {"$set": {"status": after.status.value, "version": after.version, "updated_at": after.updated_at}},
                session=session,
            )
            if result.matched_count != 1:
                return False
            if before.holds_ticket and not after.holds_ticket:
                await self._locks.delete_one({"_id": before.ticket_id, "order_id": before.id}, session=session)
            await self._add(session, event)
            return True

        return await self._commit(work)

    async def _add(self, session: AsyncClientSession, event: PendingEvent) -> None:
        await self._outbox().add(session, event.subject, event.message, event.entity_id, event.version, event.trace_id)

    async def _commit(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `work` in one transaction, then wake the outbox relay (only after the commit)."""
        result = await in_transaction(self._client, work)
        self._outbox().notify()
        return result
