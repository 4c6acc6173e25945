"""orders_svc's events on real JetStream: the ticket replica, expiry, payment, and the outbox after a crash."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import TypeAlias

from common import events
from common.bus import EventBus
from common.clock import ManualClock
from common.ids import new_id
from common.mongo import connect, isolates_transactions
from common.outbox import Outbox
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.retry import FAST_RETRY
from common.testing.servers import RunningServer
from orders_svc.app import OrdersApp
from orders_svc.domain import OrderStatus, TicketCopy, TicketStatus
from orders_svc.operations import Orders
from orders_svc.store import OrderStore
from orders_svc.tests.helpers import (
    User,
    make_settings,
    publish_ticket,
    published,
    reaches,
    replica_at,
    reserve,
    seed_ticket,
    status_of,
    stream_events,
)
from ticketstore.events.v1 import expiration_pb2, payments_pb2
from ticketstore.events.v1 import orders_pb2 as order_events
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api

Stub: TypeAlias = "orders_pb2_grpc.OrdersServiceAsyncStub"  # the generated stub on a grpc.aio channel
MakeUser = Callable[[], User]


async def consumed(events_bus: EventBus, stream: str) -> None:
    """Wait until orders_svc acknowledged everything on `stream` (so an event that changed nothing was handled)."""

    async def done() -> bool:
        last = (await events_bus.js.stream_info(stream)).state.last_seq
        info = await events_bus.js.consumer_info(stream, "orders_svc")
        return bool(info.ack_floor.stream_seq >= last and info.num_ack_pending == 0 and info.num_pending == 0)

    await eventually(done, f"orders_svc to consume {stream}")


async def expire(events_bus: EventBus, order_id: str) -> None:
    message = expiration_pb2.ExpirationComplete(order_id=order_id)
    await events_bus.publish(events.EXPIRATION_COMPLETE, message, events.msg_id(events.EXPIRATION_COMPLETE, order_id))


async def pay(events_bus: EventBus, order_id: str, payment_id: str | None = None, msg_id: str | None = None) -> None:
    payment_id = payment_id or new_id()
    message = payments_pb2.PaymentCreated(payment_id=payment_id, order_id=order_id, stripe_id="pi_x", amount_cents=1)
    await events_bus.publish(
        events.PAYMENT_CREATED, message, msg_id or events.msg_id(events.PAYMENT_CREATED, payment_id, 0)
    )


async def order_for(orders: Stub, buyer: User, ticket_id: str) -> orders_pb2.Order:
    return (await orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=ticket_id), metadata=buyer.metadata)).order


async def new_order(app: OrdersApp, orders: Stub, events_bus: EventBus, buyer: User) -> orders_pb2.Order:
    """An order whose ticket tickets_svc has reserved for it (as it does for every order.created)."""
    ticket = await seed_ticket(app, events_bus)
    reply = await orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=ticket.id), metadata=buyer.metadata)
    await reserve(app, events_bus, ticket, reply.order.id)
    return reply.order


# --- the ticket replica ---


async def test_ticket_updates_out_of_order_end_applied_in_order(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    seller, ticket_id = new_id(), new_id()
    await publish_ticket(events_bus, ticket_id, seller, 2, title="Final title", price_cents=9_000)  # early: redelivered
    await publish_ticket(events_bus, ticket_id, seller, 1, title="Middle title", price_cents=5_000)  # early too
    await publish_ticket(events_bus, ticket_id, seller, 0, title="First title", price_cents=1_000)
    copy = await replica_at(app, ticket_id, 2)
    assert (copy.version, copy.title, copy.price_cents, copy.seller_id) == (2, "Final title", 9_000, seller)
    assert copy.status is TicketStatus.AVAILABLE
    await consumed(events_bus, "TICKETS")
    assert (await app.store.ticket(ticket_id)) == copy
    # The order is made at the price of the latest version.
    reply = await orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=ticket_id), metadata=user().metadata)
    assert reply.order.price_cents == 9_000


async def test_duplicate_ticket_events_change_nothing(app: OrdersApp, events_bus: EventBus) -> None:
    seller, ticket_id = new_id(), new_id()
    await publish_ticket(events_bus, ticket_id, seller, 0, title="Original", price_cents=1_000)
    await publish_ticket(events_bus, ticket_id, seller, 1, title="Renamed", price_cents=2_000)
    before = await replica_at(app, ticket_id, 1)
    # Redeliveries that got past the broker's dedup (other message ids), with other contents.
    for version in (0, 1):
        await publish_ticket(
            events_bus, ticket_id, seller, version, title="Stale", price_cents=1, msg_id=f"again:{version}"
        )
    await consumed(events_bus, "TICKETS")
    assert await app.store.ticket(ticket_id) == before
    assert (before.title, before.price_cents, before.version) == ("Renamed", 2_000, 1)


async def test_reserved_status_and_holder_reach_the_replica(app: OrdersApp, events_bus: EventBus) -> None:
    ticket = await seed_ticket(app, events_bus)
    holder = new_id()
    await publish_ticket(
        events_bus, ticket.id, ticket.seller_id, 1, status=tickets_api.TICKET_STATUS_RESERVED, order_id=holder
    )
    copy = await replica_at(app, ticket.id, 1)
    assert (copy.status, copy.order_id) == (TicketStatus.RESERVED, holder)
    await publish_ticket(events_bus, ticket.id, ticket.seller_id, 2, status=tickets_api.TICKET_STATUS_AVAILABLE)
    copy = await replica_at(app, ticket.id, 2)
    assert (copy.status, copy.order_id) == (TicketStatus.AVAILABLE, "")


# --- the price charged is the price the ticket was reserved at ---


async def reserved_after_an_edit(
    app: OrdersApp, orders: Stub, events_bus: EventBus, buyer: User, *, price_cents: int
) -> tuple[TicketCopy, orders_pb2.Order]:
    """An order made at 2,500 cents, then the seller's edit (version 1, renamed, at `price_cents`) and the
    reservation for the order at that price (version 2), as tickets_svc applies them when the edit came first."""
    ticket = await seed_ticket(app, events_bus, price_cents=2_500)
    order = await order_for(orders, buyer, ticket.id)
    assert order.price_cents == 2_500
    await publish_ticket(events_bus, ticket.id, ticket.seller_id, 1, title="Renamed", price_cents=price_cents)
    await reserve(app, events_bus, ticket, order.id, version=2, price_cents=price_cents)
    return ticket, order


async def test_a_price_changed_before_the_reservation_cancels_the_order(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    # The seller's new price reached tickets_svc before our order.created did; tickets_svc then reserved the ticket
    # at that price: charging 2,500 would be stale.
    ticket, order = await reserved_after_an_edit(app, orders, events_bus, user(), price_cents=4_000)
    await reaches(app, order.id, OrderStatus.CANCELLED)
    assert await status_of(app, order.id) == (OrderStatus.CANCELLED, 1)
    assert await app.store.lock_holder(ticket.id) is None  # and its cancel lets tickets_svc release the ticket
    stream = await published(app, events_bus, [order.id])
    assert [subject for subject, _ in stream] == [events.ORDER_CREATED, events.ORDER_CANCELLED]
    # A payment that was already under way does not complete it (payments refunds it on order.cancelled).
    await pay(events_bus, order.id)
    await consumed(events_bus, "PAYMENTS")
    assert await status_of(app, order.id) == (OrderStatus.CANCELLED, 1)


async def test_an_order_records_the_price_of_the_version_the_buyer_was_shown(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    # The buyer was shown version 1 (the seller's new price) while its event is still on its way to our copy: the
    # order waits for it rather than record 2,500, which the reservation at 4,000 would then cancel as stale.
    ticket = await seed_ticket(app, events_bus, price_cents=2_500)
    request = orders_pb2.CreateOrderRequest(ticket_id=ticket.id, seen_ticket_version=1)
    ordering = asyncio.ensure_future(orders.CreateOrder(request, metadata=user().metadata))
    await asyncio.sleep(0.3)  # the order is being made (well inside its 2 s wait) before the new price arrives
    await publish_ticket(events_bus, ticket.id, ticket.seller_id, 1, title="Renamed", price_cents=4_000)
    order = (await ordering).order
    assert (order.price_cents, order.status) == (4_000, orders_pb2.ORDER_STATUS_CREATED)


async def test_a_reservation_at_the_recorded_price_keeps_the_order(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    _, order = await reserved_after_an_edit(app, orders, events_bus, user(), price_cents=2_500)  # not the price
    await consumed(events_bus, "TICKETS")
    assert await status_of(app, order.id) == (OrderStatus.CREATED, 0)


async def test_a_payment_before_the_reservation_waits_for_its_price(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    cheap = await seed_ticket(app, events_bus, price_cents=2_500)
    repriced = await seed_ticket(app, events_bus, price_cents=2_500)
    paid = await order_for(orders, buyer, cheap.id)
    stale = await order_for(orders, buyer, repriced.id)
    await pay(events_bus, paid.id)
    await pay(events_bus, stale.id)

    async def redelivered() -> bool:
        return (await events_bus.js.consumer_info("PAYMENTS", "orders_svc")).num_redelivered >= 2

    await eventually(redelivered, "both payments to be put back until their reservations arrive")
    assert [await status_of(app, o.id) for o in (paid, stale)] == [(OrderStatus.CREATED, 0)] * 2
    await reserve(app, events_bus, cheap, paid.id)
    await publish_ticket(events_bus, repriced.id, repriced.seller_id, 1, price_cents=9_900)
    await reserve(app, events_bus, repriced, stale.id, version=2, price_cents=9_900)
    await reaches(app, paid.id, OrderStatus.COMPLETE)
    await reaches(app, stale.id, OrderStatus.CANCELLED)
    await consumed(events_bus, "PAYMENTS")
    assert [await status_of(app, o.id) for o in (paid, stale)] == [
        (OrderStatus.COMPLETE, 1),
        (OrderStatus.CANCELLED, 1),
    ]


# --- expiry ---


async def test_expiration_cancels_a_created_order_and_announces_it(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser, clock: ManualClock
) -> None:
    buyer = user()
    order = await new_order(app, orders, events_bus, buyer)
    clock.advance(120)
    await expire(events_bus, order.id)
    await reaches(app, order.id, OrderStatus.CANCELLED)
    assert await status_of(app, order.id) == (OrderStatus.CANCELLED, 1)
    assert await app.store.lock_holder(order.ticket_id) is None
    stream = await published(app, events_bus, [order.id])
    assert [subject for subject, _ in stream] == [events.ORDER_CREATED, events.ORDER_CANCELLED]
    cancelled = stream[1][1]
    assert isinstance(cancelled, order_events.OrderCancelled)
    assert (cancelled.order_id, cancelled.user_id, cancelled.ticket_id, cancelled.version) == (
        order.id,
        buyer.id,
        order.ticket_id,
        1,
    )
    assert cancelled.occur_time.seconds == order.create_time.seconds + 120
    # Another buyer can now order the ticket.
    again = await orders.CreateOrder(orders_pb2.CreateOrderRequest(ticket_id=order.ticket_id), metadata=user().metadata)
    assert again.order.status == orders_pb2.ORDER_STATUS_CREATED


async def test_expiration_of_a_complete_order_changes_nothing(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    order = await new_order(app, orders, events_bus, user())
    await pay(events_bus, order.id)
    await reaches(app, order.id, OrderStatus.COMPLETE)
    await expire(events_bus, order.id)
    await consumed(events_bus, "EXPIRATION")
    assert await status_of(app, order.id) == (OrderStatus.COMPLETE, 1)
    assert await app.store.lock_holder(order.ticket_id) == order.id
    assert [subject for subject, _ in await published(app, events_bus, [order.id])] == [
        events.ORDER_CREATED,
        events.ORDER_COMPLETED,
    ]


async def test_expiration_of_a_cancelled_or_unknown_order_is_acknowledged(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    order = await new_order(app, orders, events_bus, buyer)
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=buyer.metadata)
    await expire(events_bus, order.id)
    await expire(events_bus, new_id())
    await consumed(events_bus, "EXPIRATION")
    assert await status_of(app, order.id) == (OrderStatus.CANCELLED, 1)
    assert [subject for subject, _ in await published(app, events_bus, [order.id])] == [
        events.ORDER_CREATED,
        events.ORDER_CANCELLED,
    ]


# --- payment ---


async def test_payment_completes_the_order_once(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    order = await new_order(app, orders, events_bus, buyer)
    payment_id = new_id()
    await pay(events_bus, order.id, payment_id)
    await pay(events_bus, order.id, payment_id, msg_id="redelivered-payment")  # a redelivery past the broker's dedup
    await reaches(app, order.id, OrderStatus.COMPLETE)
    await consumed(events_bus, "PAYMENTS")
    got = await orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=buyer.metadata)
    assert (got.order.status, got.order.version) == (orders_pb2.ORDER_STATUS_COMPLETE, 1)
    stream = await published(app, events_bus, [order.id])
    assert [subject for subject, _ in stream] == [events.ORDER_CREATED, events.ORDER_COMPLETED]
    completed = stream[1][1]
    assert isinstance(completed, order_events.OrderCompleted)
    assert (completed.order_id, completed.user_id, completed.ticket_id, completed.version) == (
        order.id,
        buyer.id,
        order.ticket_id,
        1,
    )


async def test_payment_for_a_cancelled_order_changes_nothing(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    buyer = user()
    order = await new_order(app, orders, events_bus, buyer)
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=buyer.metadata)
    await pay(events_bus, order.id)
    await consumed(events_bus, "PAYMENTS")
    assert await status_of(app, order.id) == (OrderStatus.CANCELLED, 1)
    assert [subject for subject, _ in await published(app, events_bus, [order.id])] == [
        events.ORDER_CREATED,
        events.ORDER_CANCELLED,
    ]


async def test_racing_expiry_and_payment_apply_exactly_one(
    app: OrdersApp, orders: Stub, events_bus: EventBus, user: MakeUser
) -> None:
    made = [await new_order(app, orders, events_bus, user()) for _ in range(5)]
    await asyncio.gather(*(job for o in made for job in (expire(events_bus, o.id), pay(events_bus, o.id))))
    await consumed(events_bus, "EXPIRATION")
    await consumed(events_bus, "PAYMENTS")
    stream = await published(app, events_bus, [o.id for o in made])
    for order in made:
        status, version = await status_of(app, order.id)
        assert version == 1
        ends = [s for s, m in stream if s != events.ORDER_CREATED and m.order_id == order.id]  # type: ignore[attr-defined]
        assert ends == [events.ORDER_COMPLETED if status is OrderStatus.COMPLETE else events.ORDER_CANCELLED]
        holder = await app.store.lock_holder(order.ticket_id)
        assert holder == (order.id if status is OrderStatus.COMPLETE else None)


# --- the outbox after a crash ---


async def test_a_crash_between_commit_and_publish_still_delivers_the_event_once(
    mongo_server: RunningServer, mongo_db: str, nats_server: RunningServer, jwt_keys: JwtKeys, clock: ManualClock
) -> None:
    """The order and its event are committed, then the process dies before its relay publishes anything."""
    settings = make_settings(mongo_server.url, mongo_db, nats_server.url_as("orders_svc"), jwt_keys)
    bus = await EventBus.connect(nats_server.admin_url, "test")
    client = connect(settings.mongo_url, "crashed")
    outbox = Outbox(client, settings.mongo_db, bus)  # never started: no relay runs
    store = OrderStore(client, settings.mongo_db, lambda: outbox)
    await outbox.ensure_indexes()
    await store.ensure_indexes()
    ticket_id, buyer = new_id(), new_id()
    fields = {"title": "Gig", "price_cents": 3_000, "seller_id": new_id(), "status": "AVAILABLE", "order_id": ""}
    await store.apply_ticket(ticket_id, 0, fields)
    order = await Orders(store, clock, dt.timedelta(seconds=60)).create(buyer, ticket_id)
    await client.close()
    assert await stream_events(bus) == []

    for _ in range(2):  # the restarted service publishes it; a second restart publishes nothing more
        app = OrdersApp(settings, retry=FAST_RETRY, clock=clock)
        await app.start()
        try:
            stream = await published(app, bus)
        finally:
            await app.stop()
        assert len(stream) == 1
        subject, message = stream[0]
        assert subject == events.ORDER_CREATED
        assert isinstance(message, order_events.OrderCreated)
        assert (message.order_id, message.ticket_id, message.user_id, message.price_cents) == (
            order.id,
            ticket_id,
            buyer,
            3_000,
        )
    await bus.close()


async def test_its_consumers_handle_one_event_at_a_time_where_transactions_are_not_isolated(app: OrdersApp) -> None:
    """Its handlers write in transactions, which nx-27017 does not isolate (common.mongo): no lanes there."""
    assert not await isolates_transactions(app.runtime.mongo)
    assert [consumer.lanes for consumer in app.runtime.consumers] == [1] * len(app.runtime.consumers)
