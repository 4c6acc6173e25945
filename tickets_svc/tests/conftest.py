from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import Message
from nats.js import JetStreamContext

from common import events
from common.bus import EventBus, RetryPolicy
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys
from common.testing.poll import wait_for as eventually  # noqa: F401 (re-exported to the tests)
from common.testing.servers import RunningServer
from tickets_svc.app import TicketsApp
from tickets_svc.settings import TicketsSettings
from ticketstore.tickets.v1 import tickets_pb2_grpc

# EARLY events come back quickly in tests.
FAST_RETRY = RetryPolicy(first_delay=0.05, max_delay=0.2, ack_wait=5.0)
T = TypeVar("T")


@dataclass(frozen=True)
class User:
    id: str
    email: str
    metadata: tuple[tuple[str, str], ...]


@pytest.fixture
def settings(
    mongo_server: RunningServer, mongo_db: str, nats_server: RunningServer, jwt_keys: JwtKeys
) -> TicketsSettings:
    return TicketsSettings(
        environment="test",
        grpc_port=0,
        mongo_url=mongo_server.url,
        mongo_db=mongo_db,
        nats_url=nats_server.url,
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
async def tickets(tickets_app: TicketsApp) -> AsyncIterator[tickets_pb2_grpc.TicketsServiceStub]:
    async with grpc.aio.insecure_channel(tickets_app.target) as channel:
        yield tickets_pb2_grpc.TicketsServiceStub(channel)


def make_user(jwt_keys: JwtKeys, name: str) -> User:
    user_id = uuid.uuid4().hex[:24]
    email = f"{name}@example.com"
    return User(user_id, email, bearer(jwt_keys.issuer.issue(user_id, email).token))


@pytest.fixture
def seller(jwt_keys: JwtKeys) -> User:
    return make_user(jwt_keys, "seller")


@pytest.fixture
def buyer(jwt_keys: JwtKeys) -> User:
    return make_user(jwt_keys, "buyer")


class StreamWatcher:
    """Reads what lands on a real stream through a pull subscription of its own."""

    def __init__(self, subscription: JetStreamContext.PullSubscription) -> None:
        self._subscription = subscription
        self.seen: list[tuple[str, Message, str]] = []  # (subject, payload, Nats-Msg-Id)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, Message, str]]:
        """At least `count` messages in all (bounded wait)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, saw {len(self.seen)}: {self.seen}")
            await self.poll(wait=0.2)
        return self.seen

    async def poll(self, wait: float = 0.2) -> list[tuple[str, Message, str]]:
        try:
            batch = await self._subscription.fetch(batch=100, timeout=wait)
        except Exception:  # nothing new within `wait`
            batch = []
        for msg in batch:
            await msg.ack()
            self.seen.append((msg.subject, events.decode(msg.subject, msg.data), (msg.headers or {})["Nats-Msg-Id"]))
        return self.seen


@pytest_asyncio.fixture
async def ticket_stream(bus: EventBus) -> AsyncIterator[StreamWatcher]:
    subscription = await bus.js.pull_subscribe("ticket.>", durable=f"watch{uuid.uuid4().hex[:8]}", stream="TICKETS")
    yield StreamWatcher(subscription)
    await subscription.unsubscribe()
