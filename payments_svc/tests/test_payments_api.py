"""payments_svc over real gRPC, with real JetStream, the MongoDB-compatible server and the Stripe emulator."""

from __future__ import annotations

import grpc
import pytest
import stripe

from common.bus import EventBus
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys
from payments_svc.app import PaymentsApp
from payments_svc.tests.helpers import (
    VISA,
    OrderSeed,
    eventually,
    intents_of,
    new_buyer,
    payment_events,
    seed_order,
)
from ticketstore.payments.v1 import payments_pb2, payments_pb2_grpc

Stub = payments_pb2_grpc.PaymentsServiceStub


async def pay(stub: Stub, token: str, order_id: str, method: str = VISA) -> payments_pb2.Payment:
    reply = await stub.CreatePayment(
        payments_pb2.CreatePaymentRequest(order_id=order_id, payment_method=method), metadata=bearer(token)
    )
    return reply.payment


async def pay_error(stub: Stub, token: str, order_id: str, method: str = VISA) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pay(stub, token, order_id, method)
    return caught.value


async def test_pay_charges_the_order_price_once_and_announces_it(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=4321))

    payment = await pay(payments, buyer.token, order.id)

    assert (payment.order_id, payment.amount_cents) == (order.id, 4321)
    assert payment.id and payment.stripe_id.startswith("pi_")
    intent = await stripe_api.v1.payment_intents.retrieve_async(payment.stripe_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 4321, "usd")
    assert intent.metadata["order_id"] == order.id
    assert [pi.id for pi in await intents_of(stripe_api, order.id)] == [payment.stripe_id]
    stored = await payments_app.store.payment_by_order(order.id)
    assert stored is not None and (stored.id, stored.stripe_id, stored.refunded) == (payment.id, intent.id, False)
    announced = await eventually(lambda: payment_events(bus), what="payment.created on PAYMENTS")
    assert [(e.payment_id, e.order_id, e.stripe_id, e.amount_cents, e.version) for e in announced] == [
        (payment.id, order.id, payment.stripe_id, 4321, 0)
    ]
    got = await payments.GetPayment(payments_pb2.GetPaymentRequest(order_id=order.id), metadata=bearer(buyer.token))
    assert got.payment == payment
