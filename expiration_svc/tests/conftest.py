from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from common import events
from common.bus import EventBus, RetryPolicy
from common.clock import ManualClock
from common.testing.plugin import JwtKeys
from common.testing.servers import RunningServer
from common.timestamps import to_timestamp
from expiration_svc.app import ExpirationApp, connect_redis
from expiration_svc.settings import ExpirationSettings
from expiration_svc.store import TimerStore
from ticketstore.events.v1 import expiration_pb2, orders_pb2

# A handler that fails (Redis down) is retried quickly (it never gives up, as in production).
FAST_RETRY = RetryPolicy(first_delay=0.05, max_delay=0.3, ack_wait=5.0)
DEADLINE = 20.0


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = DEADLINE, what: str = "") -> None:
    """Poll `check` until it holds, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or check}")
        await asyncio.sleep(0.02)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def settings(redis_server: RunningServer, nats_server: RunningServer, jwt_keys: JwtKeys) -> ExpirationSettings:
    return ExpirationSettings(
        environment="test",
        grpc_port=0,
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        jwt_public_key_file=jwt_keys.public_key_file,
        grace_seconds=1,
        poll_interval_seconds=0.1,
    )


StartApp = Callable[..., Awaitable[ExpirationApp]]


@pytest_asyncio.fixture
async def start_app(settings: ExpirationSettings, clock: ManualClock) -> AsyncIterator[StartApp]:
    """Starts ExpirationApps (replicas) on the test's servers; each is stopped at the end unless already stopped."""
    started: list[ExpirationApp] = []

    async def start(use_clock: Any = clock, retry: RetryPolicy = FAST_RETRY, **overrides: Any) -> ExpirationApp:
        app_settings = settings.model_copy(update=overrides) if overrides else settings
        app = ExpirationApp(app_settings, retry=retry, clock=use_clock)
        await app.start()
        started.append(app)
        return app

    yield start
    for app in reversed(started):
        await app.stop()


@pytest_asyncio.fixture
async def store(redis_server: RunningServer) -> AsyncIterator[TimerStore]:
    """The timers as the service keeps them, read through a client of the test's own."""
    client = connect_redis(redis_server.url)
    yield TimerStore(client)
    await client.aclose()


def order_created(order_id: str, expire_at: float) -> orders_pb2.OrderCreated:
    return orders_pb2.OrderCreated(
        order_id=order_id,
        user_id="u" * 24,
        ticket_id="t" * 24,
        price_cents=1000,
        expire_time=to_timestamp(dt.datetime.fromtimestamp(expire_at, dt.UTC)),
        version=0,
    )


async def publish_created(bus: EventBus, order_id: str, expire_at: float, msg_id: str | None = None) -> None:
    message = order_created(order_id, expire_at)
    await bus.publish(events.ORDER_CREATED, message, msg_id or events.msg_id(events.ORDER_CREATED, order_id, 0))


async def publish_closed(bus: EventBus, subject: str, order_id: str, version: int = 1) -> None:
    payload = events.PAYLOADS[subject](order_id=order_id, user_id="u" * 24, ticket_id="t" * 24, version=version)
    await bus.publish(subject, payload, events.msg_id(subject, order_id, version))


async def orders_consumed(bus: EventBus) -> bool:
    """expiration_svc's durable consumer has handled (and acknowledged) every order event."""
    info = await bus.js.consumer_info("ORDERS", "expiration_svc")
    return info.num_pending == 0 and info.num_ack_pending == 0


class Expirations:
    """Reads expiration.complete from the EXPIRATION stream, as orders_svc would (a durable pull consumer)."""

    def __init__(self, bus: EventBus, subscription: JetStreamContext.PullSubscription) -> None:
        self._bus = bus
        self._subscription = subscription
        self.received: list[tuple[str, float]] = []  # (order id, monotonic-free wall time of receipt)

    async def collect(self, count: int, timeout: float = DEADLINE) -> list[str]:
        """Wait until `count` messages arrived in total; returns every order id received so far."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(self.received)} expiration.complete received, expected {count}")
            try:
                messages = await self._subscription.fetch(min(1000, count - len(self.received)),
                                                          timeout=min(1.0, remaining))  # fmt: skip
            except (TimeoutError, NatsTimeoutError):
                continue
            now = time.time()
            for msg in messages:
                payload = events.decode(msg.subject, msg.data)
                assert isinstance(payload, expiration_pb2.ExpirationComplete)
                self.received.append((payload.order_id, now))
                await msg.ack()
        return [order_id for order_id, _ in self.received]

    async def stream_count(self) -> int:
        """Messages in the stream: the distinct announcements (the broker dropped dedup-id repeats)."""
        info = await self._bus.js.stream_info("EXPIRATION")
        return int(info.state.messages)


@pytest_asyncio.fixture
async def expirations(bus: EventBus) -> AsyncIterator[Expirations]:
    subscription = await bus.js.pull_subscribe(events.EXPIRATION_COMPLETE, durable="probe", stream="EXPIRATION")
    yield Expirations(bus, subscription)
    await subscription.unsubscribe()
