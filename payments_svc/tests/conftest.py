from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
import stripe

from common.bus import EventBus, RetryPolicy
from common.clock import ManualClock
from common.testing.plugin import JwtKeys
from common.testing.retry import FAST_RETRY
from common.testing.servers import RunningServer
from payments_svc.app import PaymentsApp
from payments_svc.settings import PaymentsSettings
from payments_svc.stripe_gateway import StripeGateway
from payments_svc.tests.helpers import OrdersStandIn, StartApp
from ticketstore.payments.v1 import payments_pb2_grpc


@pytest.fixture
def clock() -> ManualClock:
    """Now, moved on by what the test says."""
    return ManualClock(running=True)


@pytest.fixture
def payments_settings(
    mongo_server: RunningServer,
    mongo_db: str,
    nats_server: RunningServer,
    stripe_server: RunningServer,
    jwt_keys: JwtKeys,
) -> PaymentsSettings:
    return PaymentsSettings(
        environment="test",
        grpc_port=0,
        mongo_url=mongo_server.url,
        mongo_db=mongo_db,
        nats_url=nats_server.url_as("payments_svc"),
        jwt_public_key_file=jwt_keys.public_key_file,
        stripe_api_base=stripe_server.url,
        grace_seconds=1,
        payment_lease_wait_seconds=10,
        order_arrival_wait_seconds=0.5,
        refund_lease_wait_seconds=0.2,
        payment_verdict_wait_seconds=3,
    )


@pytest_asyncio.fixture
async def orders_svc(bus: EventBus) -> OrdersStandIn:
    """orders_svc's verdict on every payment (by default: the order completes), so CreatePayment can answer."""
    stand_in = OrdersStandIn(bus)
    await stand_in.start()
    return stand_in


@pytest_asyncio.fixture
async def start_app(
    payments_settings: PaymentsSettings, clock: ManualClock, orders_svc: OrdersStandIn
) -> AsyncIterator[StartApp]:
    """Starts a PaymentsApp (optionally with another Stripe gateway or settings), with orders_svc's stand-in;
    stops them all afterwards."""
    apps: list[PaymentsApp] = []

    async def start(
        gateway: StripeGateway | None = None, retry: RetryPolicy = FAST_RETRY, **overrides: object
    ) -> PaymentsApp:
        settings = payments_settings.model_copy(update=overrides) if overrides else payments_settings
        app = PaymentsApp(settings, retry=retry, clock=clock, stripe=gateway)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in reversed(apps):
        await app.stop()


@pytest_asyncio.fixture
async def payments_app(start_app: StartApp) -> PaymentsApp:
    return await start_app()


@pytest_asyncio.fixture
async def payments(payments_app: PaymentsApp) -> AsyncIterator[payments_pb2_grpc.PaymentsServiceAsyncStub]:
    async with grpc.aio.insecure_channel(payments_app.target) as channel:
        yield payments_pb2_grpc.PaymentsServiceStub(channel)


@pytest_asyncio.fixture
async def stripe_api(payments_settings: PaymentsSettings) -> AsyncIterator[stripe.StripeClient]:
    """Our own view of the emulator, to check what really happened at 'Stripe'."""
    gateway = StripeGateway.from_settings(payments_settings)
    yield gateway.client
    await gateway.close()
