"""MongoDB access for payments_svc: the order replica, PaymentIntent records (with their lease) and payments.

Collections:
  orders    {_id, user_id, ticket_id, price_cents, expires_at, status, version}   replica of ORDERS events
  intents   {_id: order_id, stripe_id, attempt, payment_method, lease_owner, lease_until, created_at}
            the one PaymentIntent an order is using (and the payment method it was confirmed with); whoever holds
            the lease may call Stripe for that order
  payments  {_id, order_id (unique), stripe_id, amount_cents, created_at, refunded, refund_id, refunded_at}
  outbox    pending events (common.outbox), written in the same transaction as the payment
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from common import events
from common.bus import Outcome
from common.mongo import Database, Document, Session
from common.outbox import Outbox
from common.replica import apply_versioned
from common.timestamps import from_epoch_millis
from payments_svc import messages
from payments_svc.domain import OrderCopy, OrderStatus, PaymentRecord

LEASE_FREE = from_epoch_millis(0)  # a lease that ended long ago: anyone may take it


@dataclass(frozen=True)
class IntentRecord:
    order_id: str
    stripe_id: str | None
    attempt: int
    payment_method: str | None = None  # as the buyer named it, once the intent was confirmed with it


def _order(document: Document) -> OrderCopy:
    return OrderCopy(
        id=document["_id"],
        user_id=document["user_id"],
        ticket_id=document["ticket_id"],
        price_cents=int(document["price_cents"]),
        expires_at=document["expires_at"],
        status=OrderStatus(document["status"]),
        version=int(document["version"]),
    )


def _intent(document: Document) -> IntentRecord:
    return IntentRecord(
        document["_id"], document.get("stripe_id"), int(document.get("attempt", 0)), document.get("payment_method")
    )


def _payment(document: Document) -> PaymentRecord:
    return PaymentRecord(
        id=document["_id"],
        order_id=document["order_id"],
        stripe_id=document["stripe_id"],
        amount_cents=int(document["amount_cents"]),
        created_at=document["created_at"],
        refunded=bool(document.get("refunded", False)),
        refund_id=document.get("refund_id"),
    )


class PaymentsStore:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str, outbox: Callable[[], Outbox]) -> None:
        db = Database(client, db_name)
        self._orders = db.collection("orders", times=["expires_at"])
        self._intents = db.collection("intents", times=["lease_until", "created_at"])
        self._payments = db.collection("payments", times=["created_at", "refunded_at"])
        self._outbox = outbox  # a getter: the runtime's outbox exists once the bus is connected

    async def ensure_indexes(self) -> None:
        await self._payments.create_index("order_id", unique=True)

    # --- order replica ---

    async def apply_order(self, order_id: str, version: int, fields: dict[str, Any]) -> Outcome:
        return await apply_versioned(self._orders, order_id, version, fields)

    async def order(self, order_id: str) -> OrderCopy | None:
        document = await self._orders.find_one({"_id": order_id})
        return None if document is None else _order(document)

    # --- intents and their lease ---

    async def intent(self, order_id: str) -> IntentRecord | None:
        document = await self._intents.find_one({"_id": order_id})
        return None if document is None else _intent(document)

    async def claim_lease(
        self, order_id: str, owner: str, now: dt.datetime, until: dt.datetime, *, create: bool
    ) -> bool:
        """Take the order's lease if it is free or expired (creating the intent record when `create`)."""
        if create:
            document = {"_id": order_id, "stripe_id": None, "attempt": 0, "created_at": now}
            try:
                await self._intents.insert_one({**document, "lease_owner": owner, "lease_until": until})
                return True
            except DuplicateKeyError:
                pass
        result = await self._intents.update_one(
            {"_id": order_id, "lease_until": {"$lte": now}}, {"$set": {"lease_owner": owner, "lease_until": until}}
        )
        return result.matched_count == 1

    async def renew_lease(self, order_id: str, owner: str, until: dt.datetime) -> bool:
        result = await self._intents.update_one(
            {"_id": order_id, "lease_owner": owner}, {"$set": {"lease_until": until}}
        )
        return result.matched_count == 1

    async def release_lease(self, order_id: str, owner: str) -> None:
        await self._intents.update_one(
            {"_id": order_id, "lease_owner": owner}, {"$set": {"lease_owner": None, "lease_until": LEASE_FREE}}
        )

    async def set_intent(self, order_id: str, attempt: int, stripe_id: str) -> bool:
        """Store the PaymentIntent of `attempt`, unless one is stored already (then False)."""
        result = await self._intents.update_one(
            {"_id": order_id, "attempt": attempt, "stripe_id": None}, {"$set": {"stripe_id": stripe_id}}
        )
        return result.matched_count == 1

    async def set_payment_method(self, order_id: str, attempt: int, payment_method: str) -> None:
        """Note the payment method the intent of `attempt` is being confirmed with."""
        await self._intents.update_one(
            {"_id": order_id, "attempt": attempt}, {"$set": {"payment_method": payment_method}}
        )

    async def next_attempt(self, order_id: str, attempt: int) -> bool:
        """Drop the intent of `attempt` (declined or dead) so the next try creates a fresh one."""
        result = await self._intents.update_one(
            {"_id": order_id, "attempt": attempt},
            {"$set": {"stripe_id": None, "attempt": attempt + 1, "payment_method": None}},
        )
        return result.matched_count == 1

    # --- payments ---

    async def add_payment(self, payment: PaymentRecord, *, announce: bool) -> bool:
        """Store a payment (with its `payment.created` event when `announce`, in the same transaction);
        False when the order already has one."""
        document = {
            "_id": payment.id,
            "order_id": payment.order_id,
            "stripe_id": payment.stripe_id,
            "amount_cents": payment.amount_cents,
            "created_at": payment.created_at,
            "refunded": payment.refunded,
            "refund_id": payment.refund_id,
        }

        async def work(session: Session) -> None:
            await self._payments.insert_one(document, session=session)
            event = messages.created_event(payment)
            await self._outbox().add(session, events.PAYMENT_CREATED, event, payment.id, 0)

        try:
            if announce:
                await self._outbox().transaction(work)
            else:
                await self._payments.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def payment_by_order(self, order_id: str) -> PaymentRecord | None:
        document = await self._payments.find_one({"order_id": order_id})
        return None if document is None else _payment(document)

    async def mark_refunded(self, payment_id: str, refund_id: str, now: dt.datetime) -> PaymentRecord:
        await self._payments.update_one(
            {"_id": payment_id, "refunded": False},
            {"$set": {"refunded": True, "refund_id": refund_id, "refunded_at": now}},
        )
        document = await self._payments.find_one({"_id": payment_id})
        assert document is not None
        return _payment(document)
