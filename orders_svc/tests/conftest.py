from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import grpc
import pytest
import pytest_asyncio

from common.bus import EventBus
from common.clock import ManualClock
from common.ids import new_id
from common.testing import servers
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys
from common.testing.retry import FAST_RETRY
from common.testing.servers import RunningServer
from orders_svc.app import OrdersApp
from orders_svc.tests.helpers import START, User, make_settings
from ticketstore.orders.v1 import orders_pb2_grpc


@pytest.fixture
def user(jwt_keys: JwtKeys) -> Callable[[], User]:
    count = 0

    def make() -> User:
        nonlocal count
        count += 1
        user_id = new_id()
        return User(user_id, bearer(jwt_keys.issuer.issue(user_id, f"user{count}@example.com").token))

    return make


# One app per test module (real servers, fresh ids in every test): starting and stopping the app costs about two
# seconds (its three consumers stop one after the other), so tests share it; each test only looks at its own ids.
# A test that needs pristine servers (the crash test) builds its own from the plugin's per-test fixtures.


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="module")
def module_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = servers.start_nats(tmp_path_factory.mktemp("nats"), cleanup_dir=True)
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def events_bus(module_nats: RunningServer) -> AsyncIterator[EventBus]:
    """The module's JetStream, as the other services see it."""
    event_bus = await EventBus.connect(module_nats.admin_url, "test")
    yield event_bus
    await event_bus.close()


@pytest_asyncio.fixture(scope="module")
async def app(
    mongo_server: RunningServer, module_nats: RunningServer, jwt_keys: JwtKeys, clock: ManualClock
) -> AsyncIterator[OrdersApp]:
    settings = make_settings(mongo_server.url, f"t_{uuid.uuid4().hex[:12]}", module_nats.url_as("orders_svc"), jwt_keys)
    orders_app = OrdersApp(settings, retry=FAST_RETRY, clock=clock)
    await orders_app.start()
    yield orders_app
    await orders_app.stop()


@pytest_asyncio.fixture(scope="module")
async def orders(app: OrdersApp) -> AsyncIterator[orders_pb2_grpc.OrdersServiceAsyncStub]:
    async with grpc.aio.insecure_channel(app.target) as channel:
        yield orders_pb2_grpc.OrdersServiceStub(channel)
