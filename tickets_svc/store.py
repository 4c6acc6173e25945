"""Ticket storage in the tickets database, and the only module that knows its collections.

    tickets  {_id, title, price_cents, seller_id, status, order_id, version, created_at, updated_at,
              orders: {order id: the last version of that order's events applied here},
              outbox: {v<version>: the pending event of that version}, outbox_n}   (common.outbox.DocumentOutbox)

Every write is one conditional write of one ticket document: a ticket version goes with the event that announces
it (`ticket.created` or `ticket.updated`) and with the record of the order event that caused it, atomically on any
server, without a transaction. An order event therefore costs one read (the ticket, its order records and all)
and one write. A change is conditional on the version it was read at, and on the order's record being as read
(LostRace when either moved meanwhile).

Databases written before the order records moved into their tickets kept them in `order_refs`;
`ensure_indexes` moves those into their tickets.
"""

from __future__ import annotations

from collections.abc import Callable

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from common import events
from common.bus import EventBus
from common.mongo import Database, Document
from common.outbox import DocumentOutbox
from common.retry import LostRace
from tickets_svc import messages
from tickets_svc.domain import Cursor, OrderRef, Ticket, TicketStatus

LISTING = [("created_at", DESCENDING), ("_id", DESCENDING)]  # newest first; the id breaks ties
ORDERS = "orders"  # a ticket's order records, {order id: version}
FORMER_REFS = "order_refs"  # where order records lived before (see the module docstring)


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


def _fields(ticket: Ticket) -> Document:
    return {
        "title": ticket.title,
        "price_cents": ticket.price_cents,
        "seller_id": ticket.seller_id,
        "status": ticket.status.value,
        "order_id": ticket.order_id,
        "version": ticket.version,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


class TicketStore:
    def __init__(
        self, client: AsyncMongoClient[Document], db_name: str, bus: Callable[[], EventBus], service: str
    ) -> None:
        db = Database(client, db_name)
        self._tickets = db.collection("tickets", times=["created_at", "updated_at"])
        self._former_refs = db.collection(FORMER_REFS)
        # Its relay is started and stopped by the app (the bus exists once the runtime started).
        self.outbox = DocumentOutbox(self._tickets, bus, service)

    async def ensure_indexes(self) -> None:
        await self._tickets.create_index([("status", ASCENDING), ("created_at", DESCENDING)])  # the listing
        await self._tickets.create_index([("seller_id", ASCENDING)])
        await self.outbox.ensure_indexes()
        await self._adopt_former_refs()

    async def _adopt_former_refs(self) -> None:
        """Move each order record of `order_refs` into its ticket (the higher version wins), then drop it."""
        async for ref in self._former_refs.find({}):
            record = f"{ORDERS}.{ref['_id']}"
            await self._tickets.update_one({"_id": ref["ticket_id"]}, {"$max": {record: int(ref["version"])}})
            await self._former_refs.delete_one({"_id": ref["_id"]})

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

    async def order_state(self, order_id: str, ticket_id: str) -> tuple[OrderRef | None, Ticket | None]:
        """The record of `order_id` and its ticket, in one read. `order_id` must be a checked id (common.ids): it
        is a field name in the ticket document."""
        document = await self._tickets.find_one({"_id": ticket_id})
        if document is None:
            return None, None
        version = (document.get(ORDERS) or {}).get(order_id)
        return None if version is None else OrderRef(order_id, ticket_id, int(version)), _ticket(document)

    # --- writes: each one conditional write of one ticket, with the event of the version it writes ---

    async def create(self, ticket: Ticket) -> Ticket:
        event, key = self.outbox.stage(events.TICKET_CREATED, messages.created_event(ticket), ticket.id, 0)
        await self._tickets.insert_one(self.outbox.inserted({"_id": ticket.id, **_fields(ticket)}, event, key))
        self.outbox.written(event)
        return ticket

    async def replace(self, current: Ticket, changed: Ticket) -> None:
        """`changed` replaces `current`, unless the ticket moved on since it was read (LostRace)."""
        await self._write({"_id": current.id, "version": current.version}, {}, changed)

    async def save_order_event(
        self, ref: OrderRef | None, new_ref: OrderRef, ticket: Ticket, changed: Ticket | None
    ) -> None:
        """Record `new_ref` over `ref` (None: the order's first event) in `ticket`, and `changed` over it (None: the
        ticket stays), together; LostRace when the ticket or the record moved on since they were read."""
        record = f"{ORDERS}.{new_ref.order_id}"
        condition = {"_id": ticket.id, "version": ticket.version,
                     record: {"$exists": False} if ref is None else ref.version}  # fmt: skip
        await self._write(condition, {record: new_ref.version}, changed)

    async def _write(self, condition: Document, fields: Document, changed: Ticket | None) -> None:
        """One conditional update: `fields`, and `changed` with its `ticket.updated` event when given."""
        update: Document = {"$set": {**fields, **(_fields(changed) if changed else {})}}
        event = None
        if changed is not None:
            event, key = self.outbox.stage(events.TICKET_UPDATED, messages.updated_event(changed), changed.id,
                                           changed.version)  # fmt: skip
            update = self.outbox.updated(update, event, key)
        result = await self._tickets.update_one(condition, update)
        if result.matched_count != 1:
            raise LostRace(f"ticket {condition['_id']}")
        if event is not None:
            self.outbox.written(event)
