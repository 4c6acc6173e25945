"""Helpers of the payments_svc tests (fixtures live in conftest.py): seeding the order replica through real ORDERS
events, and looking at Stripe."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import stripe
from nats.aio.msg import Msg

from common import events
from common.bus import EventBus
from common.ids import new_id
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.timestamps import to_timestamp, utcnow
from payments_svc.app import PaymentsApp
from payments_svc.domain import OrderCopy, OrderStatus
from ticketstore.events.v1 import orders_pb2, payments_pb2

StartApp = Callable[..., Awaitable[PaymentsApp]]
VISA = "pm_card_visa"
NEEDS_3DS = "pm_card_authenticationRequired"  # Stripe's test method; the emulator learns it from our gateway


@dataclass
class Buyer:
    user_id: str
    token: str


def new_buyer(jwt_keys: JwtKeys) -> Buyer:
    user_id = new_id()
    return Buyer(user_id, jwt_keys.issuer.issue(user_id, f"{user_id}@example.com").token)


@dataclass
class OrderSeed:
    user_id: str
    price_cents: int = 2500
    id: str = field(default_factory=new_id)
    ticket_id: str = field(default_factory=new_id)
    expires_at: dt.datetime = field(default_factory=lambda: utcnow() + dt.timedelta(minutes=15))


async def publish_created(bus: EventBus, order: OrderSeed) -> None:
    message = orders_pb2.OrderCreated(
        order_id=order.id,
        user_id=order.user_id,
        ticket_id=order.ticket_id,
        price_cents=order.price_cents,
        expire_time=to_timestamp(order.expires_at),
        version=0,
        occur_time=to_timestamp(utcnow()),
    )
    await bus.publish(events.ORDER_CREATED, message, events.msg_id(events.ORDER_CREATED, order.id, 0))


async def publish_cancelled(bus: EventBus, order: OrderSeed, version: int = 1) -> None:
    message = orders_pb2.OrderCancelled(
        order_id=order.id, user_id=order.user_id, ticket_id=order.ticket_id, version=version,
        occur_time=to_timestamp(utcnow()),
    )  # fmt: skip
    await bus.publish(events.ORDER_CANCELLED, message, events.msg_id(events.ORDER_CANCELLED, order.id, version))


async def publish_completed(bus: EventBus, order: OrderSeed, version: int = 1) -> None:
    message = orders_pb2.OrderCompleted(
        order_id=order.id, user_id=order.user_id, ticket_id=order.ticket_id, version=version,
        occur_time=to_timestamp(utcnow()),
    )  # fmt: skip
    await bus.publish(events.ORDER_COMPLETED, message, events.msg_id(events.ORDER_COMPLETED, order.id, version))


async def replica_at(app: PaymentsApp, order_id: str, version: int, status: OrderStatus) -> OrderCopy:
    async def check() -> OrderCopy | None:
        copy = await app.store.order(order_id)
        return copy if copy is not None and copy.version == version and copy.status is status else None

    return await eventually(check, what=f"order {order_id} v{version} {status} in the replica")


async def seed_order(bus: EventBus, app: PaymentsApp, order: OrderSeed) -> OrderSeed:
    await publish_created(bus, order)
    await replica_at(app, order.id, 0, OrderStatus.CREATED)
    return order


class OrdersStandIn:
    """Stands in for orders_svc, the arbiter of an order's fate: answers each payment.created with `verdict` as
    version 1 of the order (the tests' orders are paid at version 0): "complete" (the payment won), "cancel" (the
    expiry won first) or None (orders_svc or NATS away: no verdict). A verdict that finds the replica already at
    version 1 (a test's own cancellation) is a duplicate there, as a second decision of orders_svc could never be."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.verdict: str | None = "complete"

    async def start(self) -> None:
        await self._bus.client.subscribe(events.PAYMENT_CREATED, cb=self._on_payment)

    async def _on_payment(self, message: Msg) -> None:
        payment = payments_pb2.PaymentCreated.FromString(message.data)
        order = OrderSeed(user_id="", id=payment.order_id)
        if self.verdict == "complete":
            await publish_completed(self._bus, order)
        elif self.verdict == "cancel":
            await publish_cancelled(self._bus, order)


async def payment_events(bus: EventBus) -> list[payments_pb2.PaymentCreated]:
    """Every payment.created held by the PAYMENTS stream (each test has its own NATS server)."""
    info = await bus.js.stream_info("PAYMENTS")
    if not info.state.messages:
        return []
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await bus.js.get_msg("PAYMENTS", sequence)
        assert message.subject == events.PAYMENT_CREATED
        found.append(payments_pb2.PaymentCreated.FromString(message.data or b""))
    return found


async def intents_of(api: stripe.StripeClient, order_id: str) -> list[stripe.PaymentIntent]:
    """Every PaymentIntent the emulator holds for `order_id` (by the metadata we set)."""
    page = await api.v1.payment_intents.list_async({"limit": 100})
    return [pi async for pi in page.auto_paging_iter() if pi.metadata.to_dict().get("order_id") == order_id]


async def declining_card(api: stripe.StripeClient) -> str:
    """A PaymentMethod whose charges the emulator declines."""
    method = await api.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return method.id


async def authenticate(api: stripe.StripeClient, client_secret: str, *, success: bool) -> stripe.PaymentIntent:
    """Complete (or fail) a PaymentIntent's 3-D Secure challenge as the buyer's browser does with the emulator's
    Stripe.js (its `/_authenticate` endpoint; real Stripe has none)."""
    intent_id = client_secret.split("_secret_", maxsplit=1)[0]
    response = await api.raw_request_async(
        "post",
        f"/v1/payment_intents/{intent_id}/_authenticate",
        client_secret=client_secret,
        success="true" if success else "false",
    )
    intent = api.deserialize(response, api_mode="V1")
    assert isinstance(intent, stripe.PaymentIntent)
    return intent


async def orders_consumed(bus: EventBus) -> bool:
    """payments_svc's consumer has acknowledged every ORDERS event (none pending, none awaiting a redelivery)."""
    info = await bus.js.consumer_info("ORDERS", "payments_svc")
    return info.num_pending == 0 and info.num_ack_pending == 0


async def refunds_of(api: stripe.StripeClient, intent_id: str) -> list[stripe.Refund]:
    page = await api.v1.refunds.list_async({"payment_intent": intent_id, "limit": 100})
    return list(page.data)
