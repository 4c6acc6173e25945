"""tickets_svc over real gRPC, against the MongoDB-compatible server and real JetStream."""

from __future__ import annotations

from typing import TypeAlias

import grpc
import pytest

from common import events
from common.bus import EventBus
from common.ids import new_id
from common.testing.grpc import error_reason, field_violations
from common.testing.poll import eventually
from tickets_svc.app import TicketsApp
from tickets_svc.tests.helpers import StreamWatcher, User
from ticketstore.events.v1 import orders_pb2
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

Stub: TypeAlias = "tickets_pb2_grpc.TicketsServiceAsyncStub"  # the generated stub on a grpc.aio channel
AVAILABLE, RESERVED = tickets_pb2.TICKET_STATUS_AVAILABLE, tickets_pb2.TICKET_STATUS_RESERVED


async def create(tickets: Stub, user: User, title: str = "Gig", price: int = 500) -> tickets_pb2.Ticket:
    reply = await tickets.CreateTicket(
        tickets_pb2.CreateTicketRequest(title=title, price_cents=price), metadata=user.metadata
    )
    return reply.ticket


async def get(tickets: Stub, ticket_id: str) -> tickets_pb2.Ticket:
    return (await tickets.GetTicket(tickets_pb2.GetTicketRequest(id=ticket_id))).ticket


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def reserve(bus: EventBus, tickets: Stub, ticket_id: str) -> str:
    """Reserve a ticket the way production does: an order.created event on the ORDERS stream."""
    order_id = new_id()
    event = orders_pb2.OrderCreated(order_id=order_id, user_id="buyer", ticket_id=ticket_id, price_cents=500)
    await bus.publish(events.ORDER_CREATED, event, events.msg_id(events.ORDER_CREATED, order_id, 0))

    async def reserved() -> bool:
        ticket = await get(tickets, ticket_id)
        return ticket.status == RESERVED and ticket.order_id == order_id

    await eventually(reserved, what=f"{ticket_id} reserved")
    return order_id


async def test_create_trims_the_title_and_reads_back(tickets: Stub, seller: User) -> None:
    created = await create(tickets, seller, "  Rock night ", 2500)
    assert (created.title, created.price_cents, created.seller_id) == ("Rock night", 2500, seller.id)
    assert (created.status, created.version, created.order_id) == (AVAILABLE, 0, "")
    assert created.create_time == created.update_time
    assert await get(tickets, created.id) == created


async def test_create_needs_a_signed_in_caller(tickets: Stub) -> None:
    error = await rpc_error(tickets.CreateTicket(tickets_pb2.CreateTicketRequest(title="Gig", price_cents=500)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    forged = await rpc_error(
        tickets.CreateTicket(
            tickets_pb2.CreateTicketRequest(title="Gig", price_cents=500), metadata=(("authorization", "Bearer x.y.z"),)
        )
    )
    assert forged.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("title", "price", "fields"),
    [
        ("   ", 500, {"title"}),
        ("x" * 201, 500, {"title"}),
        ("Gig", 49, {"price_cents"}),
        ("Gig", 100_000_000, {"price_cents"}),
        ("", 0, {"title", "price_cents"}),
    ],
)
async def test_bad_input_names_every_bad_field(
    tickets: Stub, seller: User, title: str, price: int, fields: set[str]
) -> None:
    error = await rpc_error(create(tickets, seller, title, price))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == fields
    assert error_reason(error) == "BAD_USER_INPUT"
    ticket = await create(tickets, seller)
    update = tickets.UpdateTicket(
        tickets_pb2.UpdateTicketRequest(id=ticket.id, title=title, price_cents=price), metadata=seller.metadata
    )
    error = await rpc_error(update)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == fields
    assert (await get(tickets, ticket.id)).version == 0


async def test_versions_go_0_1_2_and_each_is_published_once(
    tickets: Stub, seller: User, ticket_stream: StreamWatcher
) -> None:
    created = await create(tickets, seller, "First", 500)
    first = await tickets.UpdateTicket(
        tickets_pb2.UpdateTicketRequest(id=created.id, title=" Second ", price_cents=600), metadata=seller.metadata
    )
    second = await tickets.UpdateTicket(
        tickets_pb2.UpdateTicketRequest(id=created.id, title="Third", price_cents=700), metadata=seller.metadata
    )
    assert [t.version for t in (created, first.ticket, second.ticket)] == [0, 1, 2]
    assert (second.ticket.title, second.ticket.price_cents, second.ticket.status) == ("Third", 700, AVAILABLE)
    assert second.ticket.create_time == created.create_time
    assert await get(tickets, created.id) == second.ticket

    seen = await ticket_stream.wait_for(3)
    assert [(subject, msg_id) for subject, _, msg_id in seen] == [
        ("ticket.created", f"ticket.created:{created.id}:0"),
        ("ticket.updated", f"ticket.updated:{created.id}:1"),
        ("ticket.updated", f"ticket.updated:{created.id}:2"),
    ]
    assert seen[0][1] == ticket_events.TicketCreated(
        ticket_id=created.id,
        title="First",
        price_cents=500,
        seller_id=seller.id,
        status=AVAILABLE,
        version=0,
        occur_time=created.create_time,
    )
    assert seen[2][1] == ticket_events.TicketUpdated(
        ticket_id=created.id,
        title="Third",
        price_cents=700,
        seller_id=seller.id,
        status=AVAILABLE,
        order_id="",
        version=2,
        occur_time=second.ticket.update_time,
    )
    assert len(await ticket_stream.poll()) == 3  # nothing more arrives


async def test_only_the_seller_updates(tickets: Stub, seller: User, buyer: User) -> None:
    ticket = await create(tickets, seller)
    error = await rpc_error(
        tickets.UpdateTicket(
            tickets_pb2.UpdateTicketRequest(id=ticket.id, title="Mine", price_cents=500), metadata=buyer.metadata
        )
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    unsigned = await rpc_error(
        tickets.UpdateTicket(tickets_pb2.UpdateTicketRequest(id=ticket.id, title="Mine", price_cents=500))
    )
    assert unsigned.code() is grpc.StatusCode.UNAUTHENTICATED
    assert await get(tickets, ticket.id) == ticket


async def test_update_of_an_unknown_or_malformed_id(tickets: Stub, seller: User) -> None:
    missing = await rpc_error(
        tickets.UpdateTicket(
            tickets_pb2.UpdateTicketRequest(id=new_id(), title="Gig", price_cents=500), metadata=seller.metadata
        )
    )
    assert missing.code() is grpc.StatusCode.NOT_FOUND
    malformed = await rpc_error(
        tickets.UpdateTicket(
            tickets_pb2.UpdateTicketRequest(id="nope", title="Gig", price_cents=500), metadata=seller.metadata
        )
    )
    assert malformed.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(malformed)) == ["id"]


async def test_reserved_ticket_cannot_be_updated(tickets: Stub, seller: User, bus: EventBus) -> None:
    ticket = await create(tickets, seller)
    order_id = await reserve(bus, tickets, ticket.id)
    error = await rpc_error(
        tickets.UpdateTicket(
            tickets_pb2.UpdateTicketRequest(id=ticket.id, title="Cheaper", price_cents=100), metadata=seller.metadata
        )
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "CONFLICT"
    current = await get(tickets, ticket.id)
    assert (current.title, current.price_cents, current.status, current.order_id, current.version) == (
        "Gig",
        500,
        RESERVED,
        order_id,
        1,
    )


async def test_get_ticket_answers_not_found_and_invalid_id(tickets: Stub) -> None:
    missing = await rpc_error(tickets.GetTicket(tickets_pb2.GetTicketRequest(id=new_id())))
    assert missing.code() is grpc.StatusCode.NOT_FOUND
    malformed = await rpc_error(tickets.GetTicket(tickets_pb2.GetTicketRequest(id="x")))
    assert malformed.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(malformed)) == ["id"]


async def test_batch_get_leaves_unknown_ids_out(tickets: Stub, seller: User, bus: EventBus) -> None:
    a, b = await create(tickets, seller, "A"), await create(tickets, seller, "B")
    await reserve(bus, tickets, b.id)
    reply = await tickets.BatchGetTickets(tickets_pb2.BatchGetTicketsRequest(ids=[a.id, new_id(), "bad", b.id, a.id]))
    assert sorted((t.title, t.status) for t in reply.tickets) == [("A", AVAILABLE), ("B", RESERVED)]
    assert (await tickets.BatchGetTickets(tickets_pb2.BatchGetTicketsRequest())).tickets == []
    too_many = await rpc_error(tickets.BatchGetTickets(tickets_pb2.BatchGetTicketsRequest(ids=[a.id] * 501)))
    assert too_many.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(too_many)) == ["ids"]


async def test_listing_pages_newest_first_without_duplicates_or_gaps(
    tickets: Stub, seller: User, bus: EventBus
) -> None:
    created = [await create(tickets, seller, f"T{i:02d}") for i in range(25)]
    newest_first = [t.id for t in reversed(created)]

    page1 = await tickets.ListTickets(tickets_pb2.ListTicketsRequest(page_size=10))
    ids1 = [e.ticket.id for e in page1.edges]
    assert ids1 == newest_first[:10]
    assert page1.has_next_page

    # Between pages: two tickets not yet listed are reserved, one already listed too, and a new one appears.
    reserved = {newest_first[12], newest_first[20], newest_first[3]}
    for ticket_id in reserved:
        await reserve(bus, tickets, ticket_id)
    fresh = await create(tickets, seller, "Fresh")

    page2 = await tickets.ListTickets(tickets_pb2.ListTicketsRequest(page_size=10, after=page1.edges[-1].cursor))
    page3 = await tickets.ListTickets(tickets_pb2.ListTicketsRequest(page_size=10, after=page2.edges[-1].cursor))
    ids2, ids3 = [e.ticket.id for e in page2.edges], [e.ticket.id for e in page3.edges]
    assert page2.has_next_page and not page3.has_next_page
    assert ids2 + ids3 == [i for i in newest_first[10:] if i not in reserved]
    assert not set(ids1) & set(ids2 + ids3)
    assert all(e.ticket.status == AVAILABLE for e in (*page2.edges, *page3.edges))

    again = await tickets.ListTickets(tickets_pb2.ListTicketsRequest())  # default page size 20
    listed = [e.ticket.id for e in again.edges]
    assert len(listed) == 20
    assert listed[0] == fresh.id
    assert not reserved & set(listed)


async def test_listing_page_size_and_cursor_errors(tickets: Stub, seller: User) -> None:
    for _ in range(3):
        await create(tickets, seller)
    capped = await tickets.ListTickets(tickets_pb2.ListTicketsRequest(page_size=1000))
    assert len(capped.edges) == 3 and not capped.has_next_page
    negative = await rpc_error(tickets.ListTickets(tickets_pb2.ListTicketsRequest(page_size=-1)))
    assert negative.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(negative)) == ["page_size"]
    for bad in ("not-a-cursor", "dDE6MTIzOm5vcGU"):
        error = await rpc_error(tickets.ListTickets(tickets_pb2.ListTicketsRequest(after=bad)))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert list(field_violations(error)) == ["after"]


async def test_empty_listing(tickets: Stub) -> None:
    reply = await tickets.ListTickets(tickets_pb2.ListTicketsRequest())
    assert list(reply.edges) == [] and not reply.has_next_page


async def test_health_reports_serving(tickets_app: TicketsApp) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(tickets_app.target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="ticketstore.tickets.v1.TicketsService")
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reserved_ticket_leaves_the_listing_until_released(tickets: Stub, seller: User, bus: EventBus) -> None:
    ticket = await create(tickets, seller)
    order_id = await reserve(bus, tickets, ticket.id)
    assert [e.ticket.id for e in (await tickets.ListTickets(tickets_pb2.ListTicketsRequest())).edges] == []
    cancel = orders_pb2.OrderCancelled(order_id=order_id, user_id="buyer", ticket_id=ticket.id, version=1)
    await bus.publish(events.ORDER_CANCELLED, cancel, events.msg_id(events.ORDER_CANCELLED, order_id, 1))

    async def listed() -> list[str]:
        return [e.ticket.id for e in (await tickets.ListTickets(tickets_pb2.ListTicketsRequest())).edges]

    assert await eventually(listed, what="ticket listed again") == [ticket.id]
