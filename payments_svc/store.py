"""MongoDB access for payments_svc: the order replica, PaymentIntent records (with their lease) and payments.

Collections:
  orders    {_id, user_id, ticket_id, price_cents, expires_at, status, version}   replica of ORDERS events
  intents   {_id: order_id, stripe_id, attempt, lease_owner, lease_until_ms, created_at}
            the one PaymentIntent an order is using; whoever holds the lease may call Stripe for that order
  payments  {_id, order_id (unique), stripe_id, amount_cents, created_at, refunded, refund_id, refunded_at}
  outbox    pending events (common.outbox), written in the same transaction as the payment

Portability with the dev/test server (nx-27017): it stores a datetime written through `$set` as a string, so the
lease expiry is an integer (epoch milliseconds; 0 = free), which every server compares alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from common.bus import Outcome
from common.mongo import Document, exclusive, in_transaction
from common.replica import apply_versioned
from payments_svc.domain import OrderCopy, OrderStatus

T = TypeVar("T")


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class IntentRecord:
    order_id: str
    stripe_id: str | None
    attempt: int


@dataclass(frozen=True)
class PaymentRecord:
    id: str
    order_id: str
    stripe_id: str
    amount_cents: int
    created_at: dt.datetime
    refunded: bool = False
    refund_id: str | None = None


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
    return IntentRecord(document["_id"], document.get("stripe_id"), int(document.get("attempt", 0)))


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
    def __init__(self, client: AsyncMongoClient[Document], db_name: str) -> None:
        self.client = client
        db = client[db_name]
        self._orders = db["orders"]
        self._intents = db["intents"]
        self._payments = db["payments"]

    async def ensure_indexes(self) -> None:
        await self._payments.create_index("order_id", unique=True)

    async def transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        return await in_transaction(self.client, work)

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
            try:
                document = {"_id": order_id, "stripe_id": None, "attempt": 0, "created_at": now}
                async with exclusive(self.client):
                    await self._intents.insert_one(
                        {**document, "lease_owner": owner, "lease_until_ms": epoch_ms(until)}
                    )
                return True
            except DuplicateKeyError:
                pass
        async with exclusive(self.client):
            result = await self._intents.update_one(
                {"_id": order_id, "lease_until_ms": {"$lte": epoch_ms(now)}},
                {"$set": {"lease_owner": owner, "lease_until_ms": epoch_ms(until)}},
            )
        return result.matched_count == 1

    async def renew_lease(self, order_id: str, owner: str, until: dt.datetime) -> bool:
        async with exclusive(self.client):
            result = await self._intents.update_one(
                {"_id": order_id, "lease_owner": owner}, {"$set": {"lease_until_ms": epoch_ms(until)}}
            )
        return result.matched_count == 1

    async def release_lease(self, order_id: str, owner: str) -> None:
        async with exclusive(self.client):
            await self._intents.update_one(
                {"_id": order_id, "lease_owner": owner}, {"$set": {"lease_owner": None, "lease_until_ms": 0}}
            )

    async def set_intent(self, order_id: str, attempt: int, stripe_id: str) -> bool:
        """Store the PaymentIntent of `attempt`, unless one is stored already (then False)."""
        async with exclusive(self.client):
            result = await self._intents.update_one(
                {"_id": order_id, "attempt": attempt, "stripe_id": None}, {"$set": {"stripe_id": stripe_id}}
            )
        return result.matched_count == 1

    async def next_attempt(self, order_id: str, attempt: int) -> bool:
        """Drop the intent of `attempt` (declined or dead) so the next try creates a fresh one."""
        async with exclusive(self.client):
            result = await self._intents.update_one(
                {"_id": order_id, "attempt": attempt}, {"$set": {"stripe_id": None, "attempt": attempt + 1}}
            )
        return result.matched_count == 1

    # --- payments ---

    async def insert_payment(self, payment: PaymentRecord, session: AsyncClientSession | None = None) -> None:
        """Raises DuplicateKeyError when the order already has a payment."""
        document = {
            "_id": payment.id,
            "order_id": payment.order_id,
            "stripe_id": payment.stripe_id,
            "amount_cents": payment.amount_cents,
            "created_at": payment.created_at,
            "refunded": payment.refunded,
            "refund_id": payment.refund_id,
        }
        if session is not None:  # the caller's transaction holds the write turn
            await self._payments.insert_one(document, session=session)
            return
        async with exclusive(self.client):
            await self._payments.insert_one(document)

    async def payment_by_order(self, order_id: str) -> PaymentRecord | None:
        document = await self._payments.find_one({"order_id": order_id})
        return None if document is None else _payment(document)

    async def mark_refunded(self, payment_id: str, refund_id: str, now: dt.datetime) -> PaymentRecord:
        async with exclusive(self.client):
            await self._payments.update_one(
                {"_id": payment_id, "refunded": False},
                {"$set": {"refunded": True, "refund_id": refund_id, "refunded_at": now}},
            )
        document = await self._payments.find_one({"_id": payment_id})
        assert document is not None
        return _payment(document)
