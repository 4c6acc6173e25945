"""orders_svc over real gRPC, against the MongoDB-compatible server and real JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias

import grpc
import pytest

from common import events
from common.bus import EventBus
from common.clock import ManualClock
from common.ids import new_id
from common.testing.grpc import error_reason, field_violations
from common.testing.poll import eventually
from common.timestamps import to_timestamp
from orders_svc.app import OrdersApp
from orders_svc.tests.helpers import User, publish_ticket, published, replica_at, reserve, seed_ticket
from ticketstore.events.v1 import orders_pb2 as order_events
from ticketstore.events.v1 import payments_pb2
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api

Stub: TypeAlias = "orders_pb2_grpc.OrdersServiceAsyncStub"  # the generated stub on a grpc.aio channel
MakeUser = Callable[[], User]


async def create(orders: Stub, buyer: User, ticket_id: str) -> orders_pb2.Order:
    reply = await orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=ticket_id), metadata=buyer.metadata)
    return reply.order


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_create_order_holds_the_ticket_at_its_price_and_announces_it(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser, clock: ManualClock
) -> None:
    buyer = user()
    ticket = await seed_ticket(app, events_bus, price_cents=4_200)
    order = await create(orders, buyer, ticket.id)
    assert order.status == orders_pb2.ORDER_STATUS_CREATED
    assert (order.user_id, order.ticket_id, order.price_cents, order.version) == (buyer.id, ticket.id, 4_200, 0)
    # The injected clock is "now"; ORDER_EXPIRATION_SECONDS (120 in these tests) is the window.
    assert order.create_time.ToDatetime(tzinfo=clock().tzinfo) == clock()
    assert order.expire_time.seconds - order.create_time.seconds == 120
    assert order.expire_time.nanos == order.create_time.nanos

    got = await orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=buyer.metadata)
    assert got.order == order
    assert await published(app, events_bus, [order.id]) == [
        (
            events.ORDER_CREATED,
            order_events.OrderCreated(
                order_id=order.id,
                user_id=buyer.id,
                ticket_id=ticket.id,
                price_cents=4_200,
                expire_time=order.expire_time,
                version=0,
                occur_time=order.create_time,
            ),
        )
    ]


async def test_bad_unknown_and_anonymous_requests(app: OrdersApp, orders: Stub, user: MakeUser) -> None:
    buyer = user()
    error = await refused(create(orders, buyer, "not-an-id"))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(error)) == ["ticket_id"]
    unseen = orders_pb2.CreateOrderRequest(ticket_id=new_id(), seen_ticket_version=-1)
    error = await refused(orders.CreateOrder(unseen, metadata=buyer.metadata))
    assert list(field_violations(error)) == ["seen_ticket_version"]
    error = await refused(create(orders, buyer, new_id()))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "NOT_FOUND"
    error = await refused(orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=new_id())))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    error = await refused(orders.GetOrder(orders_pb2.GetOrderRequest(id=new_id()), metadata=buyer.metadata))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await refused(orders.CancelOrder(orders_pb2.CancelOrderRequest(id="x"), metadata=buyer.metadata))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(error)) == ["id"]
    error = await refused(orders.ListMyOrders(orders_pb2.ListMyOrdersRequest(page_size=-1), metadata=buyer.metadata))
    assert list(field_violations(error)) == ["page_size"]
    many = orders_pb2.BatchGetOrdersRequest(ids=[new_id() for _ in range(501)])
    error = await refused(orders.BatchGetOrders(many, metadata=buyer.metadata))
    assert list(field_violations(error)) == ["ids"]


async def test_seller_cannot_buy_own_ticket(app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser) -> None:
    seller = user()
    ticket = await seed_ticket(app, events_bus, seller.id)
    error = await refused(create(orders, seller, ticket.id))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "you cannot buy your own ticket"
    assert error_reason(error) == "CONFLICT"


async def test_reserved_or_sold_ticket_is_refused(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    reserved, sold = await seed_ticket(app, events_bus), await seed_ticket(app, events_bus)
    await publish_ticket(
        events_bus, reserved.id, reserved.seller_id, 1, status=tickets_api.TICKET_STATUS_RESERVED, order_id=new_id()
    )
    await publish_ticket(
        events_bus, sold.id, sold.seller_id, 1, status=tickets_api.TICKET_STATUS_SOLD, order_id=new_id()
    )
    await replica_at(app, reserved.id, 1)
    await replica_at(app, sold.id, 1)
    for ticket_id, message in ((reserved.id, "reserved"), (sold.id, "sold")):
        error = await refused(create(orders, user(), ticket_id))
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert message in (error.details() or "")


async def test_fifty_concurrent_orders_on_one_ticket_make_one(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    ticket = await seed_ticket(app, events_bus)
    buyers = [user() for _ in range(50)]
    results = await asyncio.gather(*(create(orders, b, ticket.id) for b in buyers), return_exceptions=True)
    winners = [r for r in results if isinstance(r, orders_pb2.Order)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1, results
    assert len(losers) == 49
    assert {e.code() for e in losers} == {grpc.StatusCode.FAILED_PRECONDITION}
    (winner,) = winners
    assert await app.store.lock_holder(ticket.id) == winner.id
    assert await app.runtime.db["orders"].count_documents({"ticket_id": ticket.id}) == 1
    about_ticket = [
        (subject, m.order_id)  # type: ignore[attr-defined]
        for subject, m in await published(app, events_bus)
        if getattr(m, "ticket_id", None) == ticket.id
    ]
    assert about_ticket == [(events.ORDER_CREATED, winner.id)]


async def test_only_the_buyer_reads_lists_and_cancels(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer, stranger = user(), user()
    order = await create(orders, buyer, (await seed_ticket(app, events_bus)).id)
    for call in (
        orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=stranger.metadata),
        orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=stranger.metadata),
    ):
        error = await refused(call)
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(error) == "FORBIDDEN"
    theirs = await orders.ListMyOrders(orders_pb2.ListMyOrdersRequest(), metadata=stranger.metadata)
    assert list(theirs.orders) == []
    batch = orders_pb2.BatchGetOrdersRequest(ids=[order.id, new_id(), "junk"])
    assert list((await orders.BatchGetOrders(batch, metadata=stranger.metadata)).orders) == []
    assert list((await orders.BatchGetOrders(batch, metadata=buyer.metadata)).orders) == [order]
    mine = await orders.ListMyOrders(orders_pb2.ListMyOrdersRequest(), metadata=buyer.metadata)
    assert list(mine.orders) == [order]
    still = await orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=buyer.metadata)
    assert still.order.status == orders_pb2.ORDER_STATUS_CREATED  # the stranger's cancel changed nothing


async def test_my_orders_newest_first_with_a_page_size(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser, clock: ManualClock
) -> None:
    buyer = user()
    made = []
    for _ in range(3):
        made.append(await create(orders, buyer, (await seed_ticket(app, events_bus)).id))
        clock.advance(1)
    await create(orders, user(), (await seed_ticket(app, events_bus)).id)  # someone else's
    mine = await orders.ListMyOrders(orders_pb2.ListMyOrdersRequest(), metadata=buyer.metadata)
    assert [o.id for o in mine.orders] == [o.id for o in reversed(made)]
    two = await orders.ListMyOrders(orders_pb2.ListMyOrdersRequest(page_size=2), metadata=buyer.metadata)
    assert [o.id for o in two.orders] == [made[2].id, made[1].id]


async def test_cancel_twice_returns_the_same_cancelled_order_and_one_event(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser, clock: ManualClock
) -> None:
    buyer = user()
    order = await create(orders, buyer, (await seed_ticket(app, events_bus)).id)
    clock.advance(30)
    request = orders_pb2.CancelOrderRequest(id=order.id)
    first = (await orders.CancelOrder(request, metadata=buyer.metadata)).order
    second = (await orders.CancelOrder(request, metadata=buyer.metadata)).order
    assert first.status == orders_pb2.ORDER_STATUS_CANCELLED
    assert first.version == 1
    assert second == first
    got = await orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=buyer.metadata)
    assert got.order == first
    assert await app.store.lock_holder(order.ticket_id) is None
    stream = await published(app, events_bus, [order.id])
    assert [subject for subject, _ in stream] == [events.ORDER_CREATED, events.ORDER_CANCELLED]
    assert stream[1][1] == order_events.OrderCancelled(
        order_id=order.id,
        user_id=buyer.id,
        ticket_id=order.ticket_id,
        version=1,
        occur_time=to_timestamp(clock()),
    )


async def test_concurrent_cancels_apply_once(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    order = await create(orders, buyer, (await seed_ticket(app, events_bus)).id)
    request = orders_pb2.CancelOrderRequest(id=order.id)
    replies = await asyncio.gather(*(orders.CancelOrder(request, metadata=buyer.metadata) for _ in range(10)))
    assert {(r.order.status, r.order.version) for r in replies} == {(orders_pb2.ORDER_STATUS_CANCELLED, 1)}
    assert [subject for subject, _ in await published(app, events_bus, [order.id])] == [
        events.ORDER_CREATED,
        events.ORDER_CANCELLED,
    ]


async def test_cancelling_a_complete_order_is_refused(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    ticket = await seed_ticket(app, events_bus)
    order = await create(orders, buyer, ticket.id)
    await reserve(app, events_bus, ticket, order.id)
    paid = payments_pb2.PaymentCreated(payment_id=new_id(), order_id=order.id, stripe_id="pi_1", amount_cents=2_500)
    await events_bus.publish(events.PAYMENT_CREATED, paid, events.msg_id(events.PAYMENT_CREATED, paid.payment_id, 0))

    async def complete() -> bool:
        got = await orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=buyer.metadata)
        return bool(got.order.status == orders_pb2.ORDER_STATUS_COMPLETE)

    await eventually(complete, "the payment to complete the order")
    error = await refused(orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=buyer.metadata))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "a paid order cannot be cancelled"
    assert await app.store.lock_holder(order.ticket_id) == order.id  # a paid order keeps its ticket
    assert [subject for subject, _ in await published(app, events_bus, [order.id])] == [
        events.ORDER_CREATED,
        events.ORDER_COMPLETED,
    ]


async def test_after_cancel_a_new_order_on_the_ticket_succeeds(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    first_buyer, second_buyer, third_buyer = user(), user(), user()
    ticket = await seed_ticket(app, events_bus)
    first = await create(orders, first_buyer, ticket.id)
    error = await refused(create(orders, second_buyer, ticket.id))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(id=first.id), metadata=first_buyer.metadata)
    second = await create(orders, second_buyer, ticket.id)
    assert second.id != first.id
    assert await app.store.lock_holder(ticket.id) == second.id
    # The first buyer's cancel (or a late expiry) of the old order never frees the ticket held by the new one.
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(id=first.id), metadata=first_buyer.metadata)
    assert await app.store.lock_holder(ticket.id) == second.id
    error = await refused(create(orders, third_buyer, ticket.id))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_a_ticket_still_reserved_by_a_cancelled_order_can_be_ordered(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    """tickets_svc reserved the ticket for our order, which was then cancelled; its release is still on its way."""
    first_buyer, second_buyer = user(), user()
    ticket = await seed_ticket(app, events_bus)
    first = await create(orders, first_buyer, ticket.id)
    await publish_ticket(
        events_bus, ticket.id, ticket.seller_id, 1, status=tickets_api.TICKET_STATUS_RESERVED, order_id=first.id
    )
    await replica_at(app, ticket.id, 1)
    error = await refused(create(orders, second_buyer, ticket.id))
    assert "reserved" in (error.details() or "")
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(id=first.id), metadata=first_buyer.metadata)
    second = await create(orders, second_buyer, ticket.id)
    assert second.status == orders_pb2.ORDER_STATUS_CREATED


async def test_ordering_a_ticket_listed_a_moment_ago_waits_for_its_event(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    ticket_id = new_id()
    ordering = asyncio.create_task(create(orders, buyer, ticket_id))  # before ticket.created reached the replica
    await asyncio.sleep(0.2)
    assert not ordering.done()
    await publish_ticket(events_bus, ticket_id, new_id(), 0, price_cents=777)
    order = await ordering
    assert (order.ticket_id, order.price_cents, order.status) == (ticket_id, 777, orders_pb2.ORDER_STATUS_CREATED)


async def test_a_buyer_holds_at_most_five_created_orders_under_concurrency(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    held = await seed_ticket(app, events_bus)
    await create(orders, user(), held.id)
    for _ in range(3):  # refused for the ticket: the slot taken in that transaction is given back with it
        assert (await refused(create(orders, buyer, held.id))).code() is grpc.StatusCode.FAILED_PRECONDITION
    tickets = [await seed_ticket(app, events_bus) for _ in range(12)]
    results = await asyncio.gather(*(create(orders, buyer, t.id) for t in tickets), return_exceptions=True)
    made = [r for r in results if isinstance(r, orders_pb2.Order)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(made) == 5, results
    assert {(e.code(), error_reason(e)) for e in losers} == {(grpc.StatusCode.FAILED_PRECONDITION, "CONFLICT")}
    assert "5 unpaid orders" in (losers[0].details() or "")
    # Leaving CREATED gives the slot back: one cancel, one more order.
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(id=made[0].id), metadata=buyer.metadata)
    spare = next(t for t in tickets if t.id not in {o.ticket_id for o in made})
    await create(orders, buyer, spare.id)
    assert (await refused(create(orders, buyer, made[0].ticket_id))).code() is grpc.StatusCode.FAILED_PRECONDITION
