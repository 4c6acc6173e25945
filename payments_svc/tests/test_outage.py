"""A MongoDB outage longer than the old dead-letter budget (8 deliveries, ~25 s of backoff) loses no event at
payments_svc: an order.created that arrives during it reaches the replica, and an order.cancelled refunds the
order's charge, once the database is back."""

from __future__ import annotations

import asyncio

import grpc
import stripe

from common import events
from common.bus import EventBus, RetryPolicy
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.servers import Restartable
from payments_svc.domain import NOT_CONFIRMED, OrderStatus
from payments_svc.tests.helpers import (
    OrderSeed,
    OrdersStandIn,
    StartApp,
    new_buyer,
    orders_consumed,
    publish_cancelled,
    publish_created,
    refunds_of,
    replica_at,
    seed_order,
)
from payments_svc.tests.test_payments_api import Stub, pay_error, refunded_payment

OUTAGE_SECONDS = 30.0  # longer than the old budget of 8 deliveries (~25 s of backoff)


async def test_a_mongodb_outage_longer_than_the_old_retry_budget_loses_no_order_event(
    own_mongo: Restartable,
    start_app: StartApp,
    bus: EventBus,
    jwt_keys: JwtKeys,
    stripe_api: stripe.StripeClient,
    orders_svc: OrdersStandIn,
) -> None:
    # Fail fast while the server is away, so each delivery is one short attempt; the production retry policy.
    app = await start_app(retry=RetryPolicy(), mongo_url=own_mongo.url, mongo_timeout_seconds=1.0)
    orders_svc.verdict = None  # the charged order is still CREATED when its cancellation comes
    buyer = new_buyer(jwt_keys)
    charged = await seed_order(bus, app, OrderSeed(buyer.user_id, price_cents=2700))
    async with grpc.aio.insecure_channel(app.target) as channel:
        assert (await pay_error(Stub(channel), buyer.token, charged.id)).details() == NOT_CONFIRMED
    later = OrderSeed(buyer.user_id)

    own_mongo.stop()  # stopped for real; restarted below on the same port and data
    await publish_cancelled(bus, charged)
    await publish_created(bus, later)
    await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for an effect
    assert (await bus.js.consumer_info("ORDERS", "payments_svc")).num_redelivered > 0  # the handlers really failed
    own_mongo.restart()

    refunded = await eventually(lambda: refunded_payment(app, charged.id), timeout=30, what="the refund")
    assert [r.amount for r in await refunds_of(stripe_api, refunded.stripe_id)] == [2700]
    await replica_at(app, later.id, 0, OrderStatus.CREATED)
    await eventually(lambda: orders_consumed(bus), timeout=30)
    assert (await bus.js.stream_info(events.DEAD_LETTERS.name)).state.messages == 0
