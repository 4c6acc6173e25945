"""Storage in the orders database: orders, the ticket replica and the ticket locks.

Collections:
    orders        {_id, user_id, ticket_id, status, price_cents, expires_at, version, created_at, updated_at}
    tickets       {_id, title, price_cents, seller_id, status, order_id, version}   (replica of tickets_svc)
    ticket_locks  {_id: ticket_id, order_id}   one per ticket held by an active (CREATED or COMPLETE) order
    buyer_slots   {_id: "<user_id>:<n>", user_id, order_id}   one per CREATED order, n < MAX_ACTIVE_ORDERS_PER_BUYER
    outbox        pending events (common.outbox), written in the same transaction as the order

At most one active order per ticket is the unique `_id` of `ticket_locks`: the lock is inserted in the same
transaction as the order and its `order.created` event, so a second order for a held ticket fails with a duplicate
key, never a read-then-write race. Likewise a buyer's CREATED orders are capped by the slot ids `<user>:0` ..
`<user>:N-1`: a new order takes a free slot in its transaction (two orders racing for one slot: one fails on the
unique `_id` and looks again), and the order gives it back when it leaves CREATED.
Every state change is a conditional update on (status, version) in a
transaction with its outbox event, so concurrent cancel / expiry / payment cannot both apply.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from common.bus import Outcome
from common.mongo import Database, Document, Session
from common.outbox import Outbox
from common.replica import apply_versioned
from common.retry import LostRace
from orders_svc import messages
from orders_svc.domain import Order, OrderStatus, TicketCopy


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
    return messages.ticket_copy(document["_id"], int(document["version"]), document)


class Created(enum.Enum):
    OK = "ok"
    TICKET_HELD = "ticket held"  # another active order holds the ticket
    BUYER_FULL = "buyer full"  # the buyer holds the maximum of CREATED orders


class SlotTaken(LostRace):
    """Another order of the buyer took the slot this one chose: look again."""


class OrderStore:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str, outbox: Callable[[], Outbox]) -> None:
        db = Database(client, db_name)
        self._orders = db.collection("orders", times=["expires_at", "created_at", "updated_at"])
        self._tickets = db.collection("tickets")
        self._locks = db.collection("ticket_locks")
        self._slots = db.collection("buyer_slots")
        self._outbox = outbox  # a getter: the runtime's outbox exists once the bus is connected

    async def ensure_indexes(self) -> None:
        await self._orders.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
        await self._orders.create_index("ticket_id")
        await self._orders.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])  # the sweep
        await self._tickets.create_index("seller_id")
        await self._locks.create_index("order_id")
        await self._slots.create_index("user_id")
        await self._slots.create_index("order_id")

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

    async def overdue(self, before: dt.datetime, limit: int) -> list[str]:
        """CREATED orders whose window closed before `before`, the oldest first."""
        cursor = self._orders.find({"status": OrderStatus.CREATED.value, "expires_at": {"$lt": before}})
        return [d["_id"] for d in await cursor.sort([("expires_at", ASCENDING)]).limit(limit).to_list()]

    async def lock_holder(self, ticket_id: str) -> str | None:
        """The active order holding `ticket_id`, if any."""
        document = await self._locks.find_one({"_id": ticket_id})
        return None if document is None else str(document["order_id"])

    # --- writes: each one transaction, with the event of the order version it writes ---

    async def create(self, order: Order, max_active: int) -> Created:
        """Insert a CREATED order with its ticket lock, a buyer slot and its event. SlotTaken when a concurrent order
        of the same buyer took the slot chosen here (the caller decides again)."""
        taken = {d["_id"] async for d in self._slots.find({"user_id": order.user_id})}
        slot = next((f"{order.user_id}:{n}" for n in range(max_active) if f"{order.user_id}:{n}" not in taken), None)
        if slot is None:
            return Created.BUYER_FULL

        async def work(session: Session) -> None:
            try:
                await self._slots.insert_one(
                    {"_id": slot, "user_id": order.user_id, "order_id": order.id}, session=session
                )
            except DuplicateKeyError as error:  # the transaction is aborted either way; say which key it was
                raise SlotTaken(slot) from error
            await self._locks.insert_one({"_id": order.ticket_id, "order_id": order.id}, session=session)
            await self._orders.insert_one(_order_document(order), session=session)
            await self._add_event(session, order)

        try:
            await self._outbox().transaction(work)
        except DuplicateKeyError:
            return Created.TICKET_HELD
        return Created.OK

    async def transition(self, before: Order, after: Order) -> None:
        """Move `before` to `after` if the order is still exactly `before` (status and version), else LostRace.
        Leaving the active states releases the ticket lock, if this order still holds it."""

        async def work(session: Session) -> None:
            result = await self._orders.update_one(
                {"_id": before.id, "status": before.status.value, "version": before.version},
                {"$set": {"status": after.status.value, "version": after.version, "updated_at": after.updated_at}},
                session=session,
            )
            if result.matched_count != 1:
                raise LostRace(f"order {before.id}")
            if before.holds_ticket and not after.holds_ticket:
                await self._locks.delete_one({"_id": before.ticket_id, "order_id": before.id}, session=session)
            if before.status is OrderStatus.CREATED and after.status is not OrderStatus.CREATED:
                await self._slots.delete_one({"order_id": before.id}, session=session)
            await self._add_event(session, after)

        await self._outbox().transaction(work)

    async def _add_event(self, session: Session, order: Order) -> None:
        subject, message = messages.order_event(order)
        await self._outbox().add(session, subject, message, order.id, order.version)
