"""SPEC.md "Faults", checked over everything a stack holds: every order, ticket, payment, expiration timer, dead
letter and Stripe PaymentIntent (read straight from the databases, Redis, JetStream and the emulator).

After recovery every order is COMPLETE (one Payment, its charge kept, ticket SOLD) or CANCELLED (ticket AVAILABLE
or held by a newer order, any charge refunded); no ticket is RESERVED without a live CREATED order; no timer is
left for a settled order; nothing is dead-lettered; and every charge is a Payment of a COMPLETE order or refunded.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import nats
import stripe
from nats.js.errors import NotFoundError
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from common import events
from common.devstack import Stack

Doc = dict[str, Any]


@dataclass
class Audit:
    orders: list[Doc]
    problems: list[str] = field(default_factory=list)
    doubled: int = 0  # orders charged (and kept) more than once, or with more than one Payment
    lost: int = 0  # orders whose end state breaks an invariant (a stuck ticket, a kept charge of a cancelled order...)

    def count(self, status: str) -> int:
        return sum(1 for order in self.orders if order["status"] == status)


async def take(stack: Stack, *, settled: bool = True) -> Audit:
    """Read everything and check it. `settled`: every order must have left CREATED (all windows closed)."""
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(stack.env["MONGO_URL"], serverSelectionTimeoutMS=5000)
    try:
        orders = await mongo["orders"]["orders"].find().to_list()
        tickets = {t["_id"]: t for t in await mongo["tickets"]["tickets"].find().to_list()}
        payments = await mongo["payments"]["payments"].find().to_list()
    finally:
        await mongo.close()
    intents, refunded = await _stripe(stack.env["STRIPE_API_BASE"])
    timers = await _timers(stack.env["REDIS_URL"])
    dead = await _dead_letters(stack.nats_admin_url)

    audit = Audit(orders)
    by_id = {order["_id"]: order for order in orders}
    paid: dict[str, list[Doc]] = defaultdict(list)
    for payment in payments:
        paid[payment["order_id"]].append(payment)
    kept: dict[str, list[str]] = defaultdict(list)  # order id -> succeeded, unrefunded intents
    for intent in intents:
        order_id = str(intent.metadata.to_dict().get("order_id", ""))
        if order_id not in by_id:
            audit.problems.append(f"PaymentIntent {intent.id} of no known order ({order_id})")
        elif intent.status == "succeeded" and intent.id not in refunded:
            kept[order_id].append(intent.id)

    for order in orders:
        oid, status = order["_id"], order["status"]
        ticket = tickets.get(order["ticket_id"])
        problems: list[str] = []
        if len(paid[oid]) > 1 or len(kept[oid]) > 1:
            audit.doubled += 1
            problems.append(f"{len(paid[oid])} payments, {len(kept[oid])} kept charges")
        if status == "COMPLETE":
            recorded = paid[oid][0] if paid[oid] else None
            if recorded is None or recorded["refunded"] or kept[oid] != [recorded["stripe_id"]]:
                problems.append(f"COMPLETE without exactly one kept, recorded charge ({recorded}, kept {kept[oid]})")
            if ticket is None or (ticket["status"], ticket.get("order_id")) != ("SOLD", oid):
                problems.append(f"COMPLETE but its ticket is {_ticket_state(ticket)}")
        elif status == "CANCELLED":
            if kept[oid] or any(not p["refunded"] for p in paid[oid]):
                problems.append(f"CANCELLED with a charge kept ({kept[oid]}) or a payment not refunded")
            if ticket is not None and ticket["status"] != "AVAILABLE":
                holder = by_id.get(ticket.get("order_id", ""))
                if holder is None or holder is order or holder["created_at"] < order["created_at"]:
                    problems.append(f"CANCELLED but its ticket is {_ticket_state(ticket)}, not held by a newer order")
        elif settled:
            problems.append("still CREATED after its window closed")
        if settled and oid in timers and status != "CREATED":
            problems.append("a timer is left for a settled order")
        if problems:
            audit.lost += 1
            audit.problems.extend(f"order {oid} ({status}): {problem}" for problem in problems)

    for ticket in tickets.values():
        holder = by_id.get(ticket.get("order_id", ""))
        if ticket["status"] == "RESERVED" and (holder is None or holder["status"] != "CREATED"):
            audit.problems.append(f"ticket {ticket['_id']} RESERVED without a live order ({_order_state(holder)})")
        if ticket["status"] == "SOLD" and (holder is None or holder["status"] != "COMPLETE"):
            audit.problems.append(f"ticket {ticket['_id']} SOLD without a COMPLETE order ({_order_state(holder)})")
    if dead:
        audit.problems.append(f"{dead} dead letters")
    return audit


async def settle(stack: Stack, timeout: float) -> Audit:
    """Poll until every invariant holds (events still in flight after an outage need their retries); the last
    audit either way."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            audit = await take(stack)
        except Exception as error:  # a server still coming back
            audit = Audit([], [f"audit failed: {error!r}"])
        if not audit.problems or time.monotonic() > deadline:
            return audit
        await asyncio.sleep(1.0)


def _ticket_state(ticket: Doc | None) -> str:
    return "missing" if ticket is None else f"{ticket['status']} (order {ticket.get('order_id') or '-'})"


def _order_state(order: Doc | None) -> str:
    return "no such order" if order is None else f"order {order['_id']} {order['status']}"


async def _stripe(base: str) -> tuple[list[stripe.PaymentIntent], set[str]]:
    """Every PaymentIntent, and the ids of those with a succeeded refund."""
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": base}, http_client=http)
    try:
        page = await client.v1.payment_intents.list_async({"limit": 100})
        intents = [pi async for pi in page.auto_paging_iter()]
        refunds = await client.v1.refunds.list_async({"limit": 100})
        refunded = {r.payment_intent for r in [r async for r in refunds.auto_paging_iter()] if r.status == "succeeded"}
    finally:
        await http.close_async()
    return intents, {str(pi) for pi in refunded if pi}


async def _timers(url: str, prefix: str = "expiration") -> set[str]:
    """Order ids with a pending or claimed expiration timer."""
    redis = Redis.from_url(url, decode_responses=True)
    try:
        pending = await redis.zrange(f"{{{prefix}}}:timers", 0, -1)
        claimed = await redis.zrange(f"{{{prefix}}}:claimed", 0, -1)
    finally:
        await redis.aclose()
    return {str(order_id) for order_id in [*pending, *claimed]}


async def _dead_letters(url: str) -> int:
    client = await nats.connect(url, max_reconnect_attempts=2)
    try:
        return int((await client.jetstream().stream_info(events.DEAD_LETTERS.name)).state.messages)
    except NotFoundError:
        return 0
    finally:
        await client.close()
