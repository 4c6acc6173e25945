"""payments_svc over real gRPC, with real JetStream, the MongoDB-compatible server and the Stripe emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

import grpc
import pytest
import stripe

from common import events
from common.bus import EventBus
from common.clock import ManualClock
from common.ids import new_id
from common.testing.grpc import bearer, error_info, error_reason, field_violations
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.timestamps import utcnow
from payments_svc.app import PaymentsApp
from payments_svc.domain import CANCELLED_REFUNDED, NOT_CONFIRMED, OrderStatus, PaymentRecord
from payments_svc.settings import PaymentsSettings
from payments_svc.stripe_gateway import Intent, StripeGateway
from payments_svc.tests.helpers import (
    NEEDS_3DS,
    VISA,
    OrderSeed,
    OrdersStandIn,
    StartApp,
    authenticate,
    declining_card,
    intents_of,
    new_buyer,
    orders_consumed,
    payment_events,
    publish_cancelled,
    publish_completed,
    publish_created,
    refunds_of,
    replica_at,
    seed_order,
)
from ticketstore.events.v1 import orders_pb2
from ticketstore.payments.v1 import payments_pb2, payments_pb2_grpc

if TYPE_CHECKING:  # on a grpc.aio channel the generated stub is the async one
    Stub = payments_pb2_grpc.PaymentsServiceAsyncStub
else:
    Stub = payments_pb2_grpc.PaymentsServiceStub
T = TypeVar("T")


async def pay(stub: Stub, token: str, order_id: str, method: str = VISA) -> payments_pb2.Payment:
    reply = await stub.CreatePayment(
        payments_pb2.CreatePaymentRequest(order_id=order_id, payment_method=method), metadata=bearer(token)
    )
    return reply.payment


async def pay_error(stub: Stub, token: str, order_id: str, method: str = VISA) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pay(stub, token, order_id, method)
    return caught.value


async def get_error(stub: Stub, token: str, order_id: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetPayment(payments_pb2.GetPaymentRequest(order_id=order_id), metadata=bearer(token))
    return caught.value


async def refunded_payment(app: PaymentsApp, order_id: str) -> PaymentRecord | None:
    stored = await app.store.payment_by_order(order_id)
    return stored if stored is not None and stored.refunded else None


def succeeded(intents: list[stripe.PaymentIntent]) -> list[str]:
    return [pi.id for pi in intents if pi.status == "succeeded"]


# --- paying ---


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


async def test_paying_twice_is_refused_and_charges_once(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))
    first = await pay(payments, buyer.token, order.id)

    again = await pay_error(payments, buyer.token, order.id)

    assert again.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert again.details() == "order already paid"
    assert error_reason(again) == "CONFLICT"
    assert [pi.id for pi in await intents_of(stripe_api, order.id)] == [first.stripe_id]
    assert len(await eventually(lambda: payment_events(bus))) == 1


async def test_concurrent_pays_for_one_order_charge_once(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=999))

    results = await asyncio.gather(*(pay(payments, buyer.token, order.id) for _ in range(5)), return_exceptions=True)

    winners = [r for r in results if isinstance(r, payments_pb2.Payment)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 4
    assert {(e.code(), e.details()) for e in losers} == {(grpc.StatusCode.FAILED_PRECONDITION, "order already paid")}
    intents = await intents_of(stripe_api, order.id)
    assert [pi.id for pi in intents] == [winners[0].stripe_id]
    assert succeeded(intents) == [winners[0].stripe_id]
    stored = await payments_app.store.payment_by_order(order.id)
    assert stored is not None and stored.id == winners[0].id
    assert [e.payment_id for e in await eventually(lambda: payment_events(bus))] == [winners[0].id]


async def test_concurrent_pays_for_different_orders_all_succeed(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    orders = [await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=100 + i)) for i in range(4)]

    paid = await asyncio.gather(*(pay(payments, buyer.token, order.id) for order in orders))

    assert [p.amount_cents for p in paid] == [100, 101, 102, 103]
    for order, payment in zip(orders, paid, strict=True):
        assert succeeded(await intents_of(stripe_api, order.id)) == [payment.stripe_id]
    announced = await eventually(lambda: _at_least(payment_events(bus), 4))
    assert sorted(e.payment_id for e in announced) == sorted(p.id for p in paid)


async def _at_least(found: Awaitable[list[T]], count: int) -> list[T] | None:
    items = await found
    return items if len(items) >= count else None


async def test_paying_right_after_ordering_waits_for_the_order_to_arrive(
    start_app: StartApp, bus: EventBus, jwt_keys: JwtKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="payments_svc.operations")
    app = await start_app(order_arrival_wait_seconds=20)
    buyer = new_buyer(jwt_keys)
    order = OrderSeed(buyer.user_id, price_cents=640)
    channel = grpc.aio.insecure_channel(app.target)

    paying = asyncio.create_task(pay(Stub(channel), buyer.token, order.id))

    async def waiting() -> bool:
        return any(order.id in r.getMessage() and "waiting for its event" in r.getMessage() for r in caplog.records)

    await eventually(waiting, what="the payment waiting for its order")
    await publish_created(bus, order)  # the order's event arrives while the payment waits for it
    payment = await paying
    await channel.close(None)
    assert (payment.order_id, payment.amount_cents) == (order.id, 640)


async def test_an_order_that_is_not_payable_is_refused(
    payments: Stub,
    payments_app: PaymentsApp,
    bus: EventBus,
    jwt_keys: JwtKeys,
    clock: ManualClock,
    stripe_api: stripe.StripeClient,
) -> None:
    buyer = new_buyer(jwt_keys)
    cancelled = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))
    await publish_cancelled(bus, cancelled)
    await replica_at(payments_app, cancelled.id, 1, OrderStatus.CANCELLED)
    completed = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))
    await publish_completed(bus, completed)
    await replica_at(payments_app, completed.id, 1, OrderStatus.COMPLETE)
    expiring = await seed_order(
        bus, payments_app, OrderSeed(buyer.user_id, expires_at=utcnow() + dt.timedelta(minutes=5))
    )
    clock.advance(5 * 60)  # the window closed; the expiry has not cancelled the order yet

    answers = {
        name: await pay_error(payments, buyer.token, order.id)
        for name, order in (("cancelled", cancelled), ("completed", completed), ("expired", expiring))
    }

    assert {name: (e.code(), e.details()) for name, e in answers.items()} == {
        "cancelled": (grpc.StatusCode.FAILED_PRECONDITION, "order is cancelled"),
        "completed": (grpc.StatusCode.FAILED_PRECONDITION, "order already paid"),
        "expired": (grpc.StatusCode.FAILED_PRECONDITION, "order has expired"),
    }
    for order in (cancelled, completed, expiring):
        assert await intents_of(stripe_api, order.id) == []
        assert await payments_app.store.payment_by_order(order.id) is None


async def test_only_the_buyer_pays_and_reads_the_payment(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer, stranger = new_buyer(jwt_keys), new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))

    refused = await pay_error(payments, stranger.token, order.id)
    assert refused.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(refused) == "FORBIDDEN"
    assert await intents_of(stripe_api, order.id) == []
    assert (await get_error(payments, buyer.token, order.id)).code() is grpc.StatusCode.NOT_FOUND  # not paid yet

    await pay(payments, buyer.token, order.id)
    assert (await get_error(payments, stranger.token, order.id)).code() is grpc.StatusCode.PERMISSION_DENIED


async def test_unknown_orders_and_missing_sessions(payments: Stub, jwt_keys: JwtKeys) -> None:
    buyer = new_buyer(jwt_keys)
    unknown = new_id()
    assert (await pay_error(payments, buyer.token, unknown)).code() is grpc.StatusCode.NOT_FOUND
    assert (await get_error(payments, buyer.token, unknown)).code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.CreatePayment(payments_pb2.CreatePaymentRequest(order_id=unknown, payment_method=VISA))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_bad_input_names_every_bad_field(payments: Stub, jwt_keys: JwtKeys) -> None:
    token = new_buyer(jwt_keys).token
    cases = [
        ("not-an-id", VISA, ["order_id"]),
        (new_id(), "", ["payment_method"]),
        (new_id(), "   ", ["payment_method"]),
        (new_id(), "pm_" + "x" * 253, ["payment_method"]),
        ("", "", ["order_id", "payment_method"]),
    ]
    for order_id, method, fields in cases:
        error = await pay_error(payments, token, order_id, method)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (order_id, method)
        assert sorted(field_violations(error)) == fields, (order_id, method)
        assert error_reason(error) == "BAD_USER_INPUT"
    bad_read = await get_error(payments, token, "not-an-id")
    assert bad_read.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(bad_read)) == ["order_id"]


async def test_an_unknown_payment_method_is_bad_input_and_the_order_stays_payable(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))

    error = await pay_error(payments, buyer.token, order.id, "pm_does_not_exist")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(error)) == ["payment_method"]

    payment = await pay(payments, buyer.token, order.id)
    assert succeeded(await intents_of(stripe_api, order.id)) == [payment.stripe_id]


async def test_a_declined_card_fails_clearly_and_the_order_stays_payable(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=1500))
    declining = await declining_card(stripe_api)

    declined = await pay_error(payments, buyer.token, order.id, declining)

    assert declined.code() is grpc.StatusCode.ABORTED
    assert error_reason(declined) == "PAYMENT_FAILED"
    assert (declined.details() or "").startswith("card declined: ")
    assert await payments_app.store.payment_by_order(order.id) is None
    assert (await get_error(payments, buyer.token, order.id)).code() is grpc.StatusCode.NOT_FOUND
    assert (await pay_error(payments, buyer.token, order.id, declining)).code() is grpc.StatusCode.ABORTED

    payment = await pay(payments, buyer.token, order.id, VISA)

    assert payment.amount_cents == 1500
    intents = await intents_of(stripe_api, order.id)
    assert succeeded(intents) == [payment.stripe_id]
    assert {pi.status for pi in intents if pi.id != payment.stripe_id} == {"canceled"}  # the declined attempts
    assert [e.payment_id for e in await eventually(lambda: payment_events(bus))] == [payment.id]


# --- 3-D Secure ---


async def action_required(stub: Stub, token: str, order_id: str, method: str = NEEDS_3DS) -> str:
    """The client secret of a PAYMENT_ACTION_REQUIRED answer (asserting that is the answer)."""
    error = await pay_error(stub, token, order_id, method)
    assert (error.code(), error_reason(error)) == (grpc.StatusCode.ABORTED, "PAYMENT_ACTION_REQUIRED"), error
    return str(error_info(error).metadata["client_secret"])


async def test_a_card_needing_3d_secure_answers_its_client_secret_then_the_completed_intent_is_recorded(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=3000))

    secret = await action_required(payments, buyer.token, order.id)

    [intent] = await intents_of(stripe_api, order.id)
    assert intent.status == "requires_action" and secret == intent.client_secret
    assert secret.startswith(f"{intent.id}_secret_")
    assert await payments_app.store.payment_by_order(order.id) is None
    # Asked again before the challenge is done: the same answer, the same intent (none cancelled, none created).
    assert await action_required(payments, buyer.token, order.id) == secret
    assert [(pi.id, pi.status) for pi in await intents_of(stripe_api, order.id)] == [(intent.id, "requires_action")]

    assert (await authenticate(stripe_api, secret, success=True)).status == "succeeded"  # the buyer's browser
    payment = await pay(payments, buyer.token, order.id)

    assert (payment.stripe_id, payment.amount_cents) == (intent.id, 3000)
    assert succeeded(await intents_of(stripe_api, order.id)) == [intent.id]
    assert [e.payment_id for e in await eventually(lambda: payment_events(bus))] == [payment.id]


async def test_a_failed_3d_secure_challenge_leaves_the_order_payable_with_a_fresh_intent(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))
    secret = await action_required(payments, buyer.token, order.id)
    assert (await authenticate(stripe_api, secret, success=False)).status == "requires_payment_method"

    payment = await pay(payments, buyer.token, order.id, VISA)

    intents = await intents_of(stripe_api, order.id)
    assert succeeded(intents) == [payment.stripe_id]
    assert [pi.status for pi in intents if pi.id != payment.stripe_id] == ["canceled"]  # the failed challenge


async def test_another_card_instead_of_the_3d_secure_challenge_replaces_the_waiting_intent(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))
    await action_required(payments, buyer.token, order.id)  # the buyer abandons the challenge

    payment = await pay(payments, buyer.token, order.id, VISA)

    intents = await intents_of(stripe_api, order.id)
    assert succeeded(intents) == [payment.stripe_id]
    assert [pi.status for pi in intents if pi.id != payment.stripe_id] == ["canceled"]


async def test_cancelling_an_order_cancels_its_intent_waiting_for_3d_secure(
    payments: Stub, payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id))
    await action_required(payments, buyer.token, order.id)

    await publish_cancelled(bus, order)

    async def cancelled() -> bool:
        return [pi.status for pi in await intents_of(stripe_api, order.id)] == ["canceled"]

    await eventually(cancelled, what="the intent waiting for 3-D Secure cancelled")
    assert await payments_app.store.payment_by_order(order.id) is None


class ChallengeCompletedWhileCancelling(StripeGateway):
    """The real emulator; but the buyer's browser completes the 3-D Secure challenge just before our cancel
    reaches Stripe (which then refuses to cancel a succeeded intent)."""

    completed = False

    async def cancel(self, intent: Intent) -> None:
        if intent.status == "requires_action" and intent.client_secret and not self.completed:
            self.completed = True
            await authenticate(self.client, intent.client_secret, success=True)
        await super().cancel(intent)


async def test_a_3d_secure_challenge_completed_while_the_order_is_cancelled_is_refunded(
    start_app: StartApp,
    payments_settings: PaymentsSettings,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
) -> None:
    app = await start_app(ChallengeCompletedWhileCancelling.from_settings(payments_settings))
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, app, OrderSeed(buyer.user_id, price_cents=2200))
    async with grpc.aio.insecure_channel(app.target) as channel:
        await action_required(Stub(channel), buyer.token, order.id)

    await publish_cancelled(bus, order)

    stored = await eventually(lambda: refunded_payment(app, order.id), what="the late charge recorded and refunded")
    [charged] = succeeded(await intents_of(stripe_api, order.id))
    assert stored.stripe_id == charged
    assert [r.amount for r in await refunds_of(stripe_api, charged)] == [2200]


async def test_a_3d_secure_challenge_completed_while_another_card_replaces_it_is_the_one_charge(
    start_app: StartApp,
    payments_settings: PaymentsSettings,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
) -> None:
    app = await start_app(ChallengeCompletedWhileCancelling.from_settings(payments_settings))
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, app, OrderSeed(buyer.user_id))
    async with grpc.aio.insecure_channel(app.target) as channel:
        stub = Stub(channel)
        await action_required(stub, buyer.token, order.id)

        payment = await pay(stub, buyer.token, order.id, VISA)  # meanwhile the first card's challenge completes

    [charged] = succeeded(await intents_of(stripe_api, order.id))  # never a second charge
    assert payment.stripe_id == charged


async def test_a_payment_in_progress_makes_a_second_request_wait_then_refuse(
    start_app: StartApp, bus: EventBus, jwt_keys: JwtKeys, stripe_api: stripe.StripeClient
) -> None:
    app = await start_app(payment_lease_wait_seconds=0.3)
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, app, OrderSeed(buyer.user_id))
    now = utcnow()
    assert await app.store.claim_lease(order.id, "someone-else", now, now + dt.timedelta(minutes=1), create=True)

    async with grpc.aio.insecure_channel(app.target) as channel:
        stub = Stub(channel)
        busy = await pay_error(stub, buyer.token, order.id)
        assert busy.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "in progress" in (busy.details() or "")
        assert await intents_of(stripe_api, order.id) == []

        # A lease whose holder died expires, and the next request takes over.
        assert await app.store.renew_lease(order.id, "someone-else", utcnow() - dt.timedelta(seconds=1))
        payment = await pay(stub, buyer.token, order.id)
    assert succeeded(await intents_of(stripe_api, order.id)) == [payment.stripe_id]


class AnotherRequestStoresItsIntentFirst(StripeGateway):
    """The real emulator; but while we create our intent, another request stores its own for the same attempt."""

    app: PaymentsApp
    theirs: str | None = None

    async def create_intent(self, order_id: str, amount_cents: int, idempotency_key: str) -> Intent:
        ours = await super().create_intent(order_id, amount_cents, idempotency_key)
        if self.theirs is None:
            theirs = await super().create_intent(order_id, amount_cents, idempotency_key + "-theirs")
            assert await self.app.store.set_intent(order_id, 0, theirs.id)
            self.theirs = theirs.id
        return ours


async def test_a_request_that_loses_the_intent_race_uses_the_winners_intent_and_cancels_its_own(
    start_app: StartApp,
    payments_settings: PaymentsSettings,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
) -> None:
    gateway = AnotherRequestStoresItsIntentFirst.from_settings(payments_settings)
    gateway.app = app = await start_app(gateway)
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, app, OrderSeed(buyer.user_id))

    async with grpc.aio.insecure_channel(app.target) as channel:
        payment = await pay(Stub(channel), buyer.token, order.id)

    assert payment.stripe_id == gateway.theirs
    statuses = {pi.id: pi.status for pi in await intents_of(stripe_api, order.id)}
    assert sorted(statuses.values()) == ["canceled", "succeeded"]
    assert statuses[payment.stripe_id] == "succeeded"


# --- charges that outlive their order ---


async def test_a_charge_whose_order_expired_first_at_orders_svc_is_refunded_and_answered_conflict(
    payments: Stub,
    payments_app: PaymentsApp,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
    orders_svc: OrdersStandIn,
) -> None:
    orders_svc.verdict = "cancel"  # the expiry reached orders_svc before the payment did
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=2100))

    error = await pay_error(payments, buyer.token, order.id)

    assert (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION, CANCELLED_REFUNDED)
    stored = await refunded_payment(payments_app, order.id)
    assert stored is not None
    refunds = await refunds_of(stripe_api, stored.stripe_id)
    assert [(r.id, r.amount, r.status) for r in refunds] == [(stored.refund_id, 2100, "succeeded")]
    await eventually(lambda: orders_consumed(bus))  # the listener saw the cancellation too: still one refund
    assert len(await refunds_of(stripe_api, stored.stripe_id)) == 1


@pytest.mark.parametrize("late_verdict", ["complete", "cancel"])
async def test_without_a_verdict_in_time_the_answer_is_conflict_and_the_late_verdict_settles_it(
    late_verdict: str,
    payments: Stub,
    payments_app: PaymentsApp,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
    orders_svc: OrdersStandIn,
) -> None:
    orders_svc.verdict = None  # orders_svc (or NATS) is away: nobody says whether the payment won
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=900))

    error = await pay_error(payments, buyer.token, order.id)

    assert (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION, NOT_CONFIRMED)  # not "paid"
    stored = await payments_app.store.payment_by_order(order.id)
    assert stored is not None and not stored.refunded  # recorded: the late verdict decides its fate
    if late_verdict == "complete":
        await publish_completed(bus, order)
        await replica_at(payments_app, order.id, 1, OrderStatus.COMPLETE)
        got = await payments.GetPayment(payments_pb2.GetPaymentRequest(order_id=order.id), metadata=bearer(buyer.token))
        assert got.payment.stripe_id == stored.stripe_id
        await eventually(lambda: orders_consumed(bus))
        assert await refunds_of(stripe_api, stored.stripe_id) == []
    else:
        await publish_cancelled(bus, order)
        refunded = await eventually(lambda: refunded_payment(payments_app, order.id), what="the refund")
        assert [r.amount for r in await refunds_of(stripe_api, refunded.stripe_id)] == [900]


async def test_a_cancellation_during_a_payment_in_progress_is_refunded_once_the_payment_ends(
    payments: Stub,
    payments_app: PaymentsApp,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
    caplog: pytest.LogCaptureFixture,
    orders_svc: OrdersStandIn,
) -> None:
    caplog.set_level(logging.INFO, logger="payments_svc.listeners")
    orders_svc.verdict = None  # the order is still CREATED when its cancellation arrives
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, payments_app, OrderSeed(buyer.user_id, price_cents=1234))
    assert (await pay_error(payments, buyer.token, order.id)).details() == NOT_CONFIRMED
    payment = await payments_app.store.payment_by_order(order.id)
    assert payment is not None
    now = utcnow()
    held_until = now + dt.timedelta(minutes=5)
    assert await payments_app.store.claim_lease(order.id, "busy-payer", now, held_until, create=False)

    await publish_cancelled(bus, order)

    async def redelivery_asked() -> bool:
        return any(order.id in r.getMessage() and "redelivered later" in r.getMessage() for r in caplog.records)

    await eventually(redelivery_asked, what="the refund check put off while the lease is held")
    assert await refunds_of(stripe_api, payment.stripe_id) == []
    await payments_app.store.release_lease(order.id, "busy-payer")

    stored = await eventually(lambda: refunded_payment(payments_app, order.id), what="the refund after the lease")
    assert [(r.id, r.amount) for r in await refunds_of(stripe_api, payment.stripe_id)] == [(stored.refund_id, 1234)]


class CancelledDuringCharge(StripeGateway):
    """The real emulator; but right after the charge succeeds, the order's cancellation reaches the replica."""

    bus: EventBus
    app: PaymentsApp
    order: OrderSeed

    async def confirm(self, intent_id: str, payment_method: str, idempotency_key: str) -> Intent:
        confirmed = await super().confirm(intent_id, payment_method, idempotency_key)
        await publish_cancelled(self.bus, self.order)
        await replica_at(self.app, self.order.id, 1, OrderStatus.CANCELLED)
        return confirmed


async def test_a_charge_that_finds_its_order_cancelled_is_refunded_at_once(
    start_app: StartApp,
    payments_settings: PaymentsSettings,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
) -> None:
    gateway = CancelledDuringCharge.from_settings(payments_settings)
    app = await start_app(gateway)
    buyer = new_buyer(jwt_keys)
    gateway.bus, gateway.app = bus, app
    gateway.order = await seed_order(bus, app, OrderSeed(buyer.user_id, price_cents=3300))

    async with grpc.aio.insecure_channel(app.target) as channel:
        error = await pay_error(Stub(channel), buyer.token, gateway.order.id)

    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == CANCELLED_REFUNDED
    stored = await app.store.payment_by_order(gateway.order.id)
    assert stored is not None and stored.refunded and stored.refund_id
    assert [(r.id, r.amount) for r in await refunds_of(stripe_api, stored.stripe_id)] == [(stored.refund_id, 3300)]
    await eventually(lambda: orders_consumed(bus))  # the listener saw the cancellation too: still one refund
    assert len(await refunds_of(stripe_api, stored.stripe_id)) == 1


class ConnectionLostAfterCharge(StripeGateway):
    """The real emulator; but the network fails right after the first charge went through."""

    failing = True

    async def confirm(self, intent_id: str, payment_method: str, idempotency_key: str) -> Intent:
        confirmed = await super().confirm(intent_id, payment_method, idempotency_key)
        if self.failing:
            raise stripe.APIConnectionError("connection lost")
        return confirmed

    async def retrieve(self, intent_id: str) -> Intent | None:
        if self.failing:
            self.failing = False
            raise stripe.APIConnectionError("connection lost")
        return await super().retrieve(intent_id)


async def test_a_charge_whose_outcome_was_lost_is_recorded_by_the_retry_without_charging_again(
    start_app: StartApp,
    payments_settings: PaymentsSettings,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
) -> None:
    app = await start_app(ConnectionLostAfterCharge.from_settings(payments_settings))
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, app, OrderSeed(buyer.user_id))
    async with grpc.aio.insecure_channel(app.target) as channel:
        stub = Stub(channel)
        lost = await pay_error(stub, buyer.token, order.id)
        assert lost.code() is grpc.StatusCode.INTERNAL
        assert await app.store.payment_by_order(order.id) is None
        charged = succeeded(await intents_of(stripe_api, order.id))
        assert len(charged) == 1

        payment = await pay(stub, buyer.token, order.id)

    assert payment.stripe_id == charged[0]
    assert succeeded(await intents_of(stripe_api, order.id)) == charged
    assert [e.payment_id for e in await eventually(lambda: payment_events(bus))] == [payment.id]


async def test_an_unrecorded_charge_of_a_cancelled_order_is_found_and_refunded(
    start_app: StartApp,
    payments_settings: PaymentsSettings,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
) -> None:
    app = await start_app(ConnectionLostAfterCharge.from_settings(payments_settings))
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, app, OrderSeed(buyer.user_id, price_cents=1800))
    async with grpc.aio.insecure_channel(app.target) as channel:
        assert (await pay_error(Stub(channel), buyer.token, order.id)).code() is grpc.StatusCode.INTERNAL
    [charged] = succeeded(await intents_of(stripe_api, order.id))

    await publish_cancelled(bus, order)  # e.g. the payment window closed before anyone retried

    stored = await eventually(lambda: refunded_payment(app, order.id), what="the found charge recorded as refunded")
    assert stored.stripe_id == charged
    assert [r.amount for r in await refunds_of(stripe_api, charged)] == [1800]
    assert await payment_events(bus) == []  # a refunded charge of a cancelled order completes nothing


# --- the order replica ---


async def test_a_cancellation_that_overtakes_its_creation_ends_cancelled(
    payments_app: PaymentsApp, bus: EventBus, jwt_keys: JwtKeys
) -> None:
    order = OrderSeed(new_buyer(jwt_keys).user_id, price_cents=700)

    await publish_cancelled(bus, order)  # early: redelivered until version 0 is there
    await publish_created(bus, order)

    copy = await replica_at(payments_app, order.id, 1, OrderStatus.CANCELLED)
    assert (copy.user_id, copy.ticket_id, copy.price_cents) == (order.user_id, order.ticket_id, 700)
    # A second copy of the creation (another message id, so the broker lets it through) changes nothing.
    await bus.publish(
        events.ORDER_CREATED,
        orders_pb2.OrderCreated(order_id=order.id, user_id=order.user_id, price_cents=1, version=0),
        "a-second-copy-of-order-created",
    )
    await eventually(lambda: orders_consumed(bus))
    assert await payments_app.store.order(order.id) == copy


class ProcessingUntilSettled(StripeGateway):
    """The real emulator, which settles every card charge at once; until `settled`, this Stripe says the charge is
    still `processing` (as a bank debit is for days), so the intent succeeds after the order was cancelled."""

    settled = False

    async def confirm(self, intent_id: str, payment_method: str, idempotency_key: str) -> Intent:
        return self._as_seen(await super().confirm(intent_id, payment_method, idempotency_key))

    async def retrieve(self, intent_id: str) -> Intent | None:
        intent = await super().retrieve(intent_id)
        return None if intent is None else self._as_seen(intent)

    def _as_seen(self, intent: Intent) -> Intent:
        if intent.status == "succeeded" and not self.settled:
            return dataclasses.replace(intent, status="processing")
        return intent


async def test_a_processing_charge_that_succeeds_after_the_cancellation_is_refunded(
    start_app: StartApp,
    payments_settings: PaymentsSettings,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
) -> None:
    gateway = ProcessingUntilSettled.from_settings(payments_settings)
    app = await start_app(gateway)
    buyer = new_buyer(jwt_keys)
    order = await seed_order(bus, app, OrderSeed(buyer.user_id, price_cents=4400))
    async with grpc.aio.insecure_channel(app.target) as channel:
        still = await pay_error(Stub(channel), buyer.token, order.id)
    assert "still processing" in (still.details() or "")

    await publish_cancelled(bus, order)  # the window closes while the bank has not settled the charge

    async def looked_again() -> bool:
        return app.runtime.consumers[0].stats.retried >= 3  # not acknowledged as settled: looked at again and again

    await eventually(looked_again, what="order.cancelled redelivered while the intent is processing")
    [charged] = succeeded(await intents_of(stripe_api, order.id))
    assert await refunds_of(stripe_api, charged) == []
    gateway.settled = True  # the charge succeeds, after the cancellation

    stored = await eventually(lambda: refunded_payment(app, order.id), what="the late charge recorded and refunded")
    assert stored.stripe_id == charged
    assert [r.amount for r in await refunds_of(stripe_api, charged)] == [4400]
    await eventually(lambda: orders_consumed(bus))
    assert (await bus.js.stream_info(events.DEAD_LETTERS.name)).state.messages == 0
