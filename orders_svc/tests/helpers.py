"""Helpers of the orders_svc tests (fixtures live in conftest.py): events as the other services publish them, and
what the app wrote."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import Message

from common import events
from common.bus import EventBus
from common.ids import new_id
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from orders_svc.app import OrdersApp
from orders_svc.domain import OrderStatus, TicketCopy
from orders_svc.settings import OrdersSettings
from ticketstore.events.v1 import tickets_pb2
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api

START = dt.datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=dt.UTC)  # the app's "now" in tests, moved by them


@dataclass
class User:
    id: str
    metadata: tuple[tuple[str, str], ...]


def make_settings(mongo_url: str, mongo_db: str, nats_url: str, jwt_keys: JwtKeys) -> OrdersSettings:
    return OrdersSettings(
        environment="test",
        grpc_port=0,
        mongo_url=mongo_url,
        mongo_db=mongo_db,
        nats_url=nats_url,
        jwt_public_key_file=jwt_keys.public_key_file,
        grace_seconds=1,
        order_expiration_seconds=120,
        sweep_interval_seconds=3600,  # the sweep has its own test (test_sweep); elsewhere only events expire orders
    )


# --- events, as the other services publish them ---


async def publish_ticket(
    bus: EventBus,
    ticket_id: str,
    seller_id: str,
    version: int,
    *,
    status: tickets_api.TicketStatus.ValueType = tickets_api.TICKET_STATUS_AVAILABLE,
    title: str = "Concert",
    price_cents: int = 2_500,
    order_id: str = "",
    msg_id: str | None = None,
) -> None:
    """ticket.created for version 0, ticket.updated for later versions, with tickets_svc's dedup id (or `msg_id`,
    to get a redelivery past the broker's dedup)."""
    subject: str
    message: Message
    if version == 0:
        subject = events.TICKET_CREATED
        message = tickets_pb2.TicketCreated(
            ticket_id=ticket_id, title=title, price_cents=price_cents, seller_id=seller_id, status=status, version=0
        )
    else:
        subject = events.TICKET_UPDATED
        message = tickets_pb2.TicketUpdated(
            ticket_id=ticket_id,
            title=title,
            price_cents=price_cents,
            seller_id=seller_id,
            status=status,
            order_id=order_id,
            version=version,
        )
    await bus.publish(subject, message, msg_id or events.msg_id(subject, ticket_id, version))


async def replica_at(app: OrdersApp, ticket_id: str, version: int) -> TicketCopy:
    async def probe() -> TicketCopy | None:
        copy = await app.store.ticket(ticket_id)
        return copy if copy is not None and copy.version >= version else None

    return await eventually(probe, f"ticket {ticket_id} v{version} in the replica")


async def seed_ticket(
    app: OrdersApp, bus: EventBus, seller_id: str | None = None, *, price_cents: int = 2_500
) -> TicketCopy:
    """A new AVAILABLE ticket, delivered to the app through a real ticket.created event."""
    ticket_id = new_id()
    await publish_ticket(bus, ticket_id, seller_id or new_id(), 0, price_cents=price_cents)
    return await replica_at(app, ticket_id, 0)


async def reserve(
    app: OrdersApp,
    bus: EventBus,
    ticket: TicketCopy,
    order_id: str,
    *,
    version: int = 1,
    price_cents: int | None = None,
) -> TicketCopy:
    """tickets_svc's answer to an order.created: version `version` of `ticket`, RESERVED for `order_id` (at the
    ticket's price unless `price_cents` says the seller changed it first), applied by the app."""
    await publish_ticket(
        bus,
        ticket.id,
        ticket.seller_id,
        version,
        status=tickets_api.TICKET_STATUS_RESERVED,
        price_cents=ticket.price_cents if price_cents is None else price_cents,
        order_id=order_id,
    )
    return await replica_at(app, ticket.id, version)


async def stream_events(bus: EventBus, stream: str = "ORDERS") -> list[tuple[str, Message]]:
    """Every message on `stream`, decoded, oldest first."""
    info = await bus.js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
        raw = await bus.js.get_msg(stream, seq)
        assert raw.subject is not None and raw.data is not None
        found.append((raw.subject, events.decode(raw.subject, raw.data)))
    return found


async def published(app: OrdersApp, bus: EventBus, order_ids: Iterable[str] | None = None) -> list[tuple[str, Message]]:
    """The ORDERS stream (only the events of `order_ids`, if given) once the outbox has nothing left to publish."""

    async def drained() -> bool:
        return await app.runtime.db["outbox"].count_documents({}) == 0

    await eventually(drained, "the outbox to drain")
    found = await stream_events(bus)
    if order_ids is None:
        return found
    wanted = set(order_ids)
    return [(subject, m) for subject, m in found if getattr(m, "order_id", None) in wanted]


async def status_of(app: OrdersApp, order_id: str) -> tuple[OrderStatus, int]:
    order = await app.store.get(order_id)
    assert order is not None
    return order.status, order.version


async def reaches(app: OrdersApp, order_id: str, status: OrderStatus) -> None:
    async def probe() -> bool:
        return (await status_of(app, order_id))[0] is status

    await eventually(probe, f"order {order_id} to become {status}")
