from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from common import events
from common.bus import EventBus, RetryPolicy
from common.ids import new_id
from common.testing import servers
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys
from common.testing.poll import wait_for
from common.testing.servers import RunningServer
from orders_svc.app import OrdersApp
from orders_svc.domain import TicketCopy
from orders_svc.settings import OrdersSettings
from ticketstore.events.v1 import tickets_pb2
from ticketstore.orders.v1 import orders_pb2_grpc
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api

# EARLY events come back within a fraction of a second instead of the production backoff.
FAST_RETRY = RetryPolicy(first_delay=0.05, max_delay=0.2, ack_wait=5.0)
T = TypeVar("T")
START = dt.datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=dt.UTC)


class FakeClock:
    """The app's "now", moved by the test."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class User:
    id: str
    metadata: tuple[tuple[str, str], ...]


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


def make_settings(mongo_url: str, mongo_db: str, nats_url: str, jwt_keys: JwtKeys) -> OrdersSettings:
    return OrdersSettings(
        environment="test",
        grpc_port=0,
        mongo_url=mongo_url,
        mongo_db=mongo_db,
        nats_url=nats_url,
        jwt_public_key_file=jwt_keys.public_key_file,
        grace_seconds=1,
        order_expiration_seconds=120,
        sweep_interval_seconds=3600,  # the sweep has its own test (test_sweep); elsewhere only events expire orders
    )


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def module_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = servers.start_nats(tmp_path_factory.mktemp("nats"), cleanup_dir=True)
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def events_bus(module_nats: RunningServer) -> AsyncIterator[EventBus]:
    """The module's JetStream, as the other services see it."""
    event_bus = await EventBus.connect(module_nats.url, "test")
    yield event_bus
    await event_bus.close()


@pytest_asyncio.fixture(scope="module")
async def app(
    mongo_server: RunningServer, module_nats: RunningServer, jwt_keys: JwtKeys, clock: FakeClock
) -> AsyncIterator[OrdersApp]:
    settings = make_settings(mongo_server.url, f"t_{uuid.uuid4().hex[:12]}", module_nats.url, jwt_keys)
    orders_app = OrdersApp(settings, retry=FAST_RETRY, clock=clock)
    await orders_app.start()
    yield orders_app
    await orders_app.stop()


@pytest_asyncio.fixture(scope="module")
async def orders(app: OrdersApp) -> AsyncIterator[orders_pb2_grpc.OrdersServiceStub]:
    async with grpc.aio.insecure_channel(app.target) as channel:
        yield orders_pb2_grpc.OrdersServiceStub(channel)


# --- events, as the other services publish them ---


async def publish_ticket(
    bus: EventBus,
    ticket_id: str,
    seller_id: str,
    version: int,
    *,
    status: int = tickets_api.TICKET_STATUS_AVAILABLE,
    title: str = "Concert",
    price_cents: int = 2_500,
    order_id: str = "",
    msg_id: str | None = None,
) -> None:
    """ticket.created for version 0, ticket.updated for later versions, with tickets_svc's dedup id (or `msg_id`,
    to get a redelivery past the broker's dedup)."""
    message: Message
    if version == 0:
        subject = events.TICKET_CREATED
        message = tickets_pb2.TicketCreated(
            ticket_id=ticket_id, title=title, price_cents=price_cents, seller_id=seller_id, status=status, version=0
        )
    else:
        subject = events.TICKET_UPDATED
        message = tickets_pb2.TicketUpdated(
            ticket_id=ticket_id,
            title=title,
            price_cents=price_cents,
            seller_id=seller_id,
            status=status,
            order_id=order_id,
            version=version,
        )
    await bus.publish(subject, message, msg_id or events.msg_id(subject, ticket_id, version))


async def replica_at(app: OrdersApp, ticket_id: str, version: int) -> TicketCopy:
    async def probe() -> TicketCopy | None:
        copy = await app.store.ticket(ticket_id)
        return copy if copy is not None and copy.version >= version else None

    return await wait_for(probe, f"ticket {ticket_id} v{version} in the replica")


async def seed_ticket(
    app: OrdersApp, bus: EventBus, seller_id: str | None = None, *, price_cents: int = 2_500
) -> TicketCopy:
    """A new AVAILABLE ticket, delivered to the app through a real ticket.created event."""
    ticket_id = new_id()
    await publish_ticket(bus, ticket_id, seller_id or new_id(), 0, price_cents=price_cents)
    return await replica_at(app, ticket_id, 0)


async def stream_events(bus: EventBus, stream: str = "ORDERS") -> list[tuple[str, Message]]:
    """Every message on `stream`, decoded, oldest first."""
    info = await bus.js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
        raw = await bus.js.get_msg(stream, seq)
        assert raw.subject is not None and raw.data is not None
        found.append((raw.subject, events.decode(raw.subject, raw.data)))
    return found


async def published(app: OrdersApp, bus: EventBus, order_ids: Iterable[str] | None = None) -> list[tuple[str, Message]]:
    """The ORDERS stream (only the events of `order_ids`, if given) once the outbox has nothing left to publish."""

    async def drained() -> bool:
        return await app.runtime.db["outbox"].count_documents({}) == 0

    await wait_for(drained, "the outbox to drain")
    found = await stream_events(bus)
    if order_ids is None:
        return found
    wanted = set(order_ids)
    return [(subject, m) for subject, m in found if getattr(m, "order_id", None) in wanted]
