"""Helpers of the tickets_svc tests (fixtures live in conftest.py): users, a stream watcher, order events published
the way orders_svc does, and the consumer working through them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TypeAlias

from google.protobuf.message import Message
from nats.js import JetStreamContext

from common import events
from common.bus import EventBus
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from ticketstore.events.v1 import orders_pb2
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc


@dataclass(frozen=True)
class User:
    id: str
    email: str
    metadata: tuple[tuple[str, str], ...]


def make_user(jwt_keys: JwtKeys, name: str) -> User:
    user_id = uuid.uuid4().hex[:24]
    email = f"{name}@example.com"
    return User(user_id, email, bearer(jwt_keys.issuer.issue(user_id, email).token))


class StreamWatcher:
    """Reads what lands on a real stream through a pull subscription of its own."""

    def __init__(self, subscription: JetStreamContext.PullSubscription) -> None:
        self._subscription = subscription
        self.seen: list[tuple[str, Message, str]] = []  # (subject, payload, Nats-Msg-Id)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, Message, str]]:
        """At least `count` messages in all (bounded wait)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, saw {len(self.seen)}: {self.seen}")
            await self.poll(wait=0.2)
        return self.seen

    async def poll(self, wait: float = 0.2) -> list[tuple[str, Message, str]]:
        try:
            batch = await self._subscription.fetch(batch=100, timeout=wait)
        except Exception:  # nothing new within `wait`
            batch = []
        for msg in batch:
            await msg.ack()
            self.seen.append((msg.subject, events.decode(msg.subject, msg.data), (msg.headers or {})["Nats-Msg-Id"]))
        return self.seen


Stub: TypeAlias = "tickets_pb2_grpc.TicketsServiceAsyncStub"  # the generated stub on a grpc.aio channel
AVAILABLE = tickets_pb2.TICKET_STATUS_AVAILABLE
RESERVED = tickets_pb2.TICKET_STATUS_RESERVED
SOLD = tickets_pb2.TICKET_STATUS_SOLD


# --- helpers: publish order events the way orders_svc does, and watch the consumer work through them ---


async def publish(bus: EventBus, subject: str, message: Message, msg_id: str | None = None) -> int:
    """Publish an order event; returns its stream sequence. A fresh `msg_id` passes the broker's dedup,
    which is what a redelivery (or a producer's retry after the window) looks like to the consumer."""
    entity_id = str(getattr(message, "order_id"))
    version = int(getattr(message, "version"))
    headers = {"Nats-Msg-Id": msg_id or events.msg_id(subject, entity_id, version)}
    ack = await bus.js.publish(subject, message.SerializeToString(), headers=headers, timeout=5)
    return int(ack.seq)


def created(order_id: str, ticket_id: str) -> orders_pb2.OrderCreated:
    return orders_pb2.OrderCreated(order_id=order_id, user_id="buyer", ticket_id=ticket_id, price_cents=500, version=0)


def cancelled(order_id: str, ticket_id: str) -> orders_pb2.OrderCancelled:
    return orders_pb2.OrderCancelled(order_id=order_id, user_id="buyer", ticket_id=ticket_id, version=1)


def completed(order_id: str, ticket_id: str) -> orders_pb2.OrderCompleted:
    return orders_pb2.OrderCompleted(order_id=order_id, user_id="buyer", ticket_id=ticket_id, version=1)


async def consumed(bus: EventBus, seq: int) -> None:
    """Wait until the tickets_svc consumer has acknowledged every ORDERS message up to `seq`."""

    async def done() -> bool:
        info = await bus.js.consumer_info("ORDERS", "tickets_svc")
        return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= seq

    await eventually(done, what=f"ORDERS message {seq} acknowledged")


async def delivered(bus: EventBus, seq: int) -> None:
    """Wait until the consumer has been handed ORDERS message `seq` (it may have nak'd it)."""

    async def seen() -> bool:
        info = await bus.js.consumer_info("ORDERS", "tickets_svc")
        return (info.delivered.stream_seq or 0) >= seq

    await eventually(seen, what=f"ORDERS message {seq} delivered")


async def get(tickets: Stub, ticket_id: str) -> tickets_pb2.Ticket:
    return (await tickets.GetTicket(tickets_pb2.GetTicketRequest(id=ticket_id))).ticket


async def state(tickets: Stub, ticket_id: str) -> tuple[int, str, int]:
    ticket = await get(tickets, ticket_id)
    return ticket.status, ticket.order_id, ticket.version


async def new_ticket(tickets: Stub, seller: User) -> str:
    reply = await tickets.CreateTicket(
        tickets_pb2.CreateTicketRequest(title="Gig", price_cents=500), metadata=seller.metadata
    )
    return reply.ticket.id


def updates(seen: list[tuple[str, Message, str]]) -> list[tuple[int, int, str]]:
    """(version, status, order_id) of every ticket.updated among `seen`."""
    found = [m for s, m, _ in seen if s == events.TICKET_UPDATED]
    return [(m.version, m.status, m.order_id) for m in found if isinstance(m, ticket_events.TicketUpdated)]
