"""Ticket storage in the tickets database, and the only module that knows its collections.

    tickets     {_id, title, price_cents, seller_id, status, order_id, version, created_at, updated_at}
    order_refs  {_id: order id, ticket_id, version}: the last version of each order event applied here
    outbox      pending events (common.outbox), written in the same transaction as the ticket

Every write is one transaction: a ticket version goes with the event that announces it (`ticket.created` or
`ticket.updated`), and a change is conditional on the version it was read at (LostRace when it moved meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from common import events
from common.mongo import Database, Document, Session
from common.outbox import Outbox
from common.retry import LostRace
from tickets_svc import messages
from tickets_svc.domain import Cursor, OrderRef, Ticket, TicketStatus

LISTING = [("created_at", DESCENDING), ("_id", DESCENDING)]  # newest first; the id breaks ties


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
    }


def _ref(document: Document) -> OrderRef:
    return OrderRef(document["_id"], document["ticket_id"], int(document["version"]))


class TicketStore:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str, outbox: Callable[[], Outbox]) -> None:
        db = Database(client, db_name)
        self._tickets = db.collection("tickets", times=["created_at", "updated_at"])
        self._refs = db.collection("order_refs")
        self._outbox = outbox  # a getter: the runtime's outbox exists once the bus is connected

    async def ensure_indexes(self) -> None:
        await self._tickets.create_index([("status", ASCENDING), ("created_at", DESCENDING)])  # the listing
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
        """Up to `limit` AVAILABLE tickets, newest first, strictly after `after` in that order.

        After a cursor, two range reads on the listing index: the rest of the cursor's millisecond, then older
        tickets (one `$or` query would say the same, but not every server plans it on the index)."""
        available: Document = {"status": TicketStatus.AVAILABLE.value}
        if after is None:
            return await self._listing(available, limit)
        same_time = {**available, "created_at": after.created_at, "_id": {"$lt": after.ticket_id}}
        found = await self._listing(same_time, limit)
        if len(found) < limit:
            found += await self._listing({**available, "created_at": {"$lt": after.created_at}}, limit - len(found))
        return found

    async def _listing(self, query: Document, limit: int) -> list[Ticket]:
        return [_ticket(d) async for d in self._tickets.find(query).sort(LISTING).limit(limit)]

    async def order_ref(self, order_id: str) -> OrderRef | None:
        document = await self._refs.find_one({"_id": order_id})
        return None if document is None else _ref(document)

    # --- writes: each one transaction, with the event of the ticket version it writes ---

    async def create(self, ticket: Ticket) -> Ticket:
        async def work(session: Session) -> None:
            await self._tickets.insert_one(_document(ticket), session=session)
            await self._outbox().add(session, events.TICKET_CREATED, messages.created_event(ticket), ticket.id, 0)

        await self._outbox().transaction(work)
        return ticket

    async def replace(self, current: Ticket, changed: Ticket) -> None:
        """`changed` replaces `current`, unless the ticket moved on since it was read (LostRace)."""
        await self._outbox().transaction(lambda session: self._replace(session, current, changed))

    async def save_order_event(
        self, ref: OrderRef | None, new_ref: OrderRef, ticket: Ticket | None, changed: Ticket | None
    ) -> None:
        """Record `new_ref` over `ref` (None: the order's first event) and `changed` over `ticket` (None: the ticket
        stays), together; LostRace when either moved on since it was read."""

        async def work(session: Session) -> None:
            if ticket is not None and changed is not None:
                await self._replace(session, ticket, changed)
            await self._save_ref(session, ref, new_ref)

        try:
            await self._outbox().transaction(work)
        except DuplicateKeyError as exc:  # a twin delivery recorded the order's first event first
            raise LostRace(new_ref.order_id) from exc

    async def _replace(self, session: Session, current: Ticket, changed: Ticket) -> None:
        result = await self._tickets.replace_one(
            {"_id": current.id, "version": current.version}, _document(changed), session=session
        )
        if result.matched_count != 1:
            raise LostRace(f"ticket {current.id}")
        event = messages.updated_event(changed)
        await self._outbox().add(session, events.TICKET_UPDATED, event, changed.id, changed.version)

    async def _save_ref(self, session: Session, current: OrderRef | None, new: OrderRef) -> None:
        if current is None:
            document = {"_id": new.order_id, "ticket_id": new.ticket_id, "version": new.version}
            await self._refs.insert_one(document, session=session)  # a concurrent twin fails on the unique _id
            return
        result = await self._refs.update_one(
            {"_id": current.order_id, "version": current.version}, {"$set": {"version": new.version}}, session=session
        )
        if result.matched_count != 1:
            raise LostRace(f"order {current.order_id}")
