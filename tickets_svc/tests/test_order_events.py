"""Order events on real JetStream move tickets safely: once each, in order, whatever the delivery order."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf.message import Message

from common import events
from common.bus import EventBus
from common.ids import new_id
from common.mongo import connect
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.retry import FAST_RETRY
from common.timestamps import utcnow
from tickets_svc import domain
from tickets_svc.app import TicketsApp
from tickets_svc.settings import TicketsSettings
from tickets_svc.store import TicketStore
from tickets_svc.tests.helpers import (
    AVAILABLE,
    RESERVED,
    SOLD,
    StreamWatcher,
    Stub,
    User,
    cancelled,
    completed,
    consumed,
    created,
    delivered,
    get,
    new_ticket,
    publish,
    state,
    updates,
)
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

# --- the tests ---


async def test_order_created_reserves_the_ticket_and_publishes_it(
    tickets: Stub, seller: User, bus: EventBus, ticket_stream: StreamWatcher
) -> None:
    ticket_id = await new_ticket(tickets, seller)
    order_id = new_id()
    await consumed(bus, await publish(bus, events.ORDER_CREATED, created(order_id, ticket_id)))
    assert await state(tickets, ticket_id) == (RESERVED, order_id, 1)
    seen = await ticket_stream.wait_for(2)
    assert seen[1][2] == f"ticket.updated:{ticket_id}:1"
    assert updates(ticket_stream.seen) == [(1, RESERVED, order_id)]


async def test_a_redelivered_event_changes_nothing(
    tickets: Stub, seller: User, bus: EventBus, ticket_stream: StreamWatcher
) -> None:
    ticket_id = await new_ticket(tickets, seller)
    order_id = new_id()
    await consumed(bus, await publish(bus, events.ORDER_CREATED, created(order_id, ticket_id)))
    before = await get(tickets, ticket_id)
    # Redeliveries (the broker's dedup does not see them: new message ids) are acknowledged and ignored.
    for _ in range(2):
        seq = await publish(bus, events.ORDER_CREATED, created(order_id, ticket_id), f"redelivery-{uuid.uuid4()}")
        await consumed(bus, seq)
    assert await get(tickets, ticket_id) == before
    await consumed(bus, await publish(bus, events.ORDER_CANCELLED, cancelled(order_id, ticket_id)))
    released = await get(tickets, ticket_id)
    seq = await publish(bus, events.ORDER_CANCELLED, cancelled(order_id, ticket_id), f"redelivery-{uuid.uuid4()}")
    await consumed(bus, seq)
    assert await get(tickets, ticket_id) == released
    assert (released.status, released.order_id, released.version) == (AVAILABLE, "", 2)
    await ticket_stream.wait_for(3)
    assert updates(await ticket_stream.poll()) == [(1, RESERVED, order_id), (2, AVAILABLE, "")]


async def test_a_cancel_that_overtakes_its_created_still_leaves_the_ticket_available(
    tickets: Stub, seller: User, bus: EventBus, ticket_stream: StreamWatcher
) -> None:
    ticket_id = await new_ticket(tickets, seller)
    order_id = new_id()
    cancel_seq = await publish(bus, events.ORDER_CANCELLED, cancelled(order_id, ticket_id))
    await delivered(bus, cancel_seq)  # seen, found early (unknown order), nak'd for later
    assert await state(tickets, ticket_id) == (AVAILABLE, "", 0)
    created_seq = await publish(bus, events.ORDER_CREATED, created(order_id, ticket_id))
    await consumed(bus, max(cancel_seq, created_seq))

    async def settled() -> bool:
        return await state(tickets, ticket_id) == (AVAILABLE, "", 2)

    await eventually(settled, what="ticket available again at version 2")
    await ticket_stream.wait_for(3)
    assert updates(await ticket_stream.poll()) == [(1, RESERVED, order_id), (2, AVAILABLE, "")]


async def test_an_old_orders_late_cancel_never_frees_a_newer_reservation(
    tickets: Stub, seller: User, bus: EventBus, ticket_stream: StreamWatcher
) -> None:
    ticket_id = await new_ticket(tickets, seller)
    order_a, order_b = new_id(), new_id()
    await consumed(bus, await publish(bus, events.ORDER_CREATED, created(order_a, ticket_id)))
    # B's order arrives while A still holds the ticket: early, until A's cancel frees it.
    b_seq = await publish(bus, events.ORDER_CREATED, created(order_b, ticket_id))
    await delivered(bus, b_seq)
    assert await state(tickets, ticket_id) == (RESERVED, order_a, 1)
    await publish(bus, events.ORDER_CANCELLED, cancelled(order_a, ticket_id))

    async def held_by_b() -> bool:
        return await state(tickets, ticket_id) == (RESERVED, order_b, 3)

    await eventually(held_by_b, what="B holds the ticket")
    # A's cancel comes again, late: it must not release B's reservation.
    late = await publish(bus, events.ORDER_CANCELLED, cancelled(order_a, ticket_id), f"late-{uuid.uuid4()}")
    await consumed(bus, late)
    assert await state(tickets, ticket_id) == (RESERVED, order_b, 3)
    await ticket_stream.wait_for(4)
    assert updates(await ticket_stream.poll()) == [
        (1, RESERVED, order_a),
        (2, AVAILABLE, ""),
        (3, RESERVED, order_b),
    ]


async def test_order_completed_sells_the_ticket_for_good(
    tickets: Stub, seller: User, bus: EventBus, ticket_stream: StreamWatcher
) -> None:
    ticket_id = await new_ticket(tickets, seller)
    order_id, latecomer = new_id(), new_id()
    await consumed(bus, await publish(bus, events.ORDER_CREATED, created(order_id, ticket_id)))
    await consumed(bus, await publish(bus, events.ORDER_COMPLETED, completed(order_id, ticket_id)))
    assert await state(tickets, ticket_id) == (SOLD, order_id, 2)
    # An order made from a stale view of the ticket cannot take a sold ticket, nor can its cancel free it.
    await consumed(bus, await publish(bus, events.ORDER_CREATED, created(latecomer, ticket_id)))
    await consumed(bus, await publish(bus, events.ORDER_CANCELLED, cancelled(latecomer, ticket_id)))
    assert await state(tickets, ticket_id) == (SOLD, order_id, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tickets.UpdateTicket(
            tickets_pb2.UpdateTicketRequest(id=ticket_id, title="Resale", price_cents=900), metadata=seller.metadata
        )
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    listing = await tickets.ListTickets(tickets_pb2.ListTicketsRequest())
    assert list(listing.edges) == []
    await ticket_stream.wait_for(3)
    assert updates(await ticket_stream.poll()) == [(1, RESERVED, order_id), (2, SOLD, order_id)]


async def test_seller_edits_racing_a_reservation_keep_versions_gapless(
    tickets: Stub, seller: User, bus: EventBus, ticket_stream: StreamWatcher
) -> None:
    ticket_id = await new_ticket(tickets, seller)
    order_id = new_id()

    async def edit(n: int) -> grpc.StatusCode:
        try:
            await tickets.UpdateTicket(
                tickets_pb2.UpdateTicketRequest(id=ticket_id, title=f"Edit {n}", price_cents=500 + n),
                metadata=seller.metadata,
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    publishing = publish(bus, events.ORDER_CREATED, created(order_id, ticket_id))
    codes = await asyncio.gather(*(edit(n) for n in range(6)), publishing)
    edits = list(codes[:6])
    assert set(edits) <= {grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION}

    async def reserved() -> bool:
        return (await get(tickets, ticket_id)).status == RESERVED

    await eventually(reserved, what="reservation applied")
    final = await get(tickets, ticket_id)
    applied = edits.count(grpc.StatusCode.OK)
    assert (final.order_id, final.version) == (order_id, applied + 1)
    seen = await ticket_stream.wait_for(applied + 2)
    assert [m.version for _, m, _ in seen] == list(range(applied + 2))  # type: ignore[attr-defined]
    assert len(await ticket_stream.poll()) == applied + 2


async def test_events_committed_before_a_crash_are_published_exactly_once_on_restart(
    settings: TicketsSettings, bus: EventBus, jwt_keys: JwtKeys, ticket_stream: StreamWatcher
) -> None:
    client = connect(settings.mongo_url, "crashed-tickets-svc")
    store = TicketStore(client, settings.mongo_db, lambda: bus, "crashed")  # its relay never runs: it "dies"
    await store.ensure_indexes()
    now = utcnow()
    unpublished = await store.create(domain.new_ticket(new_id(), "seller", domain.TicketInput("Lost?", 500), now))
    # A second event was published, but the crash came before the relay removed it from the ticket's outbox.
    half_done = await store.create(domain.new_ticket(new_id(), "seller", domain.TicketInput("Twice?", 600), now))
    document = await client[settings.mongo_db]["tickets"].find_one({"_id": half_done.id})
    assert document is not None
    pending = document["outbox"]["v0"]
    await bus.publish_raw(pending["subject"], bytes(pending["payload"]), pending["msg_id"])
    assert (await bus.js.stream_info("TICKETS")).state.messages == 1

    app = TicketsApp(settings, retry=FAST_RETRY)  # the restart
    await app.start()
    try:

        async def outbox_empty() -> bool:
            return await client[settings.mongo_db]["tickets"].count_documents({"outbox_n": {"$gt": 0}}) == 0

        await eventually(outbox_empty, what="the outbox drained")
        seen = await ticket_stream.wait_for(2)
        assert sorted(msg_id for _, _, msg_id in seen) == sorted(
            f"ticket.created:{t.id}:0" for t in (unpublished, half_done)
        )
        assert (await bus.js.stream_info("TICKETS")).state.messages == 2
        async with grpc.aio.insecure_channel(app.target) as channel:
            stub = tickets_pb2_grpc.TicketsServiceStub(channel)
            assert (await get(stub, unpublished.id)).title == "Lost?"
            token = jwt_keys.issuer.issue("u1", "u1@example.com").token
            await stub.CreateTicket(
                tickets_pb2.CreateTicketRequest(title="After", price_cents=500), metadata=bearer(token)
            )
        await ticket_stream.wait_for(3)
        assert (await bus.js.stream_info("TICKETS")).state.messages == 3
    finally:
        await app.stop()
        await client.close()


async def test_order_events_of_many_tickets_handled_concurrently_apply_in_order_per_ticket(
    tickets_app: TicketsApp,
    settings: TicketsSettings,
    tickets: Stub,
    seller: User,
    bus: EventBus,
    ticket_stream: StreamWatcher,
) -> None:
    """Each ticket's story (held by A, released, held by B, sold to B), the tickets' stories interleaved on the
    stream, handled by a consumer with several lanes: every ticket ends sold to B, its versions published in order.
    """
    (consumer,) = tickets_app.runtime.consumers
    assert consumer.lanes == settings.event_lanes > 1  # no transaction in its handlers: lanes on any server
    ticket_ids = [await new_ticket(tickets, seller) for _ in range(6)]
    orders = {ticket_id: (new_id(), new_id()) for ticket_id in ticket_ids}
    last = 0
    for step in range(4):
        for ticket_id, (first, second) in orders.items():
            story: list[tuple[str, Message]] = [
                (events.ORDER_CREATED, created(first, ticket_id)),
                (events.ORDER_CANCELLED, cancelled(first, ticket_id)),
                (events.ORDER_CREATED, created(second, ticket_id)),
                (events.ORDER_COMPLETED, completed(second, ticket_id)),
            ]
            last = await publish(bus, *story[step])
    await consumed(bus, last)
    for ticket_id, (_, second) in orders.items():
        assert await state(tickets, ticket_id) == (SOLD, second, 4)
    seen = await ticket_stream.wait_for(len(ticket_ids) * 5)
    for ticket_id, (first, second) in orders.items():
        published = [(v, status, order) for v, status, order, t in _updates_of(seen) if t == ticket_id]
        assert published == [(1, RESERVED, first), (2, AVAILABLE, ""), (3, RESERVED, second), (4, SOLD, second)]


def _updates_of(seen: list[tuple[str, Message, str]]) -> list[tuple[int, int, str, str]]:
    """(version, status, order_id, ticket_id) of every ticket.updated among `seen`, in stream order."""
    found = [m for s, m, _ in seen if s == events.TICKET_UPDATED and isinstance(m, ticket_events.TicketUpdated)]
    return [(m.version, m.status, m.order_id, m.ticket_id) for m in found]
