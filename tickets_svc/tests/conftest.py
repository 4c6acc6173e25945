from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from common.bus import EventBus
from common.testing.plugin import JwtKeys
from common.testing.retry import FAST_RETRY
from common.testing.servers import RunningServer
from tickets_svc.app import TicketsApp
from tickets_svc.settings import TicketsSettings
from tickets_svc.tests.helpers import StreamWatcher, User, make_user
from ticketstore.tickets.v1 import tickets_pb2_grpc


@pytest.fixture
def settings(
    mongo_server: RunningServer, mongo_db: str, nats_server: RunningServer, jwt_keys: JwtKeys
) -> TicketsSettings:
    return TicketsSettings(
        environment="test",
        grpc_port=0,
        mongo_url=mongo_server.url,
        mongo_db=mongo_db,
        nats_url=nats_server.url_as("tickets_svc"),
        jwt_public_key_file=jwt_keys.public_key_file,
        grace_seconds=1,
    )


@pytest_asyncio.fixture
async def tickets_app(settings: TicketsSettings) -> AsyncIterator[TicketsApp]:
    app = TicketsApp(settings, retry=FAST_RETRY)
    await app.start()
    yield app
    await app.stop()


@pytest_asyncio.fixture
async def tickets(tickets_app: TicketsApp) -> AsyncIterator[tickets_pb2_grpc.TicketsServiceAsyncStub]:
    async with grpc.aio.insecure_channel(tickets_app.target) as channel:
        yield tickets_pb2_grpc.TicketsServiceStub(channel)


@pytest.fixture
def seller(jwt_keys: JwtKeys) -> User:
    return make_user(jwt_keys, "seller")


@pytest.fixture
def buyer(jwt_keys: JwtKeys) -> User:
    return make_user(jwt_keys, "buyer")


@pytest_asyncio.fixture
async def ticket_stream(bus: EventBus) -> AsyncIterator[StreamWatcher]:
    subscription = await bus.js.pull_subscribe("ticket.>", durable=f"watch{uuid.uuid4().hex[:8]}", stream="TICKETS")
    yield StreamWatcher(subscription)
    await subscription.unsubscribe()
