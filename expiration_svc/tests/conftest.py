from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from common import events
from common.bus import EventBus, RetryPolicy
from common.clock import ManualClock
from common.testing.plugin import JwtKeys
from common.testing.retry import FAST_RETRY
from common.testing.servers import RunningServer
from expiration_svc.app import ExpirationApp, connect_redis
from expiration_svc.settings import ExpirationSettings
from expiration_svc.store import TimerStore
from expiration_svc.tests.helpers import Expirations, StartApp


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def settings(redis_server: RunningServer, nats_server: RunningServer, jwt_keys: JwtKeys) -> ExpirationSettings:
    return ExpirationSettings(
        environment="test",
        grpc_port=0,
        nats_url=nats_server.url_as("expiration_svc"),
        redis_url=redis_server.url,
        jwt_public_key_file=jwt_keys.public_key_file,
        grace_seconds=1,
        poll_interval_seconds=0.1,
    )


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


@pytest_asyncio.fixture
async def expirations(bus: EventBus) -> AsyncIterator[Expirations]:
    subscription = await bus.js.pull_subscribe(events.EXPIRATION_COMPLETE, durable="probe", stream="EXPIRATION")
    yield Expirations(bus, subscription)
    await subscription.unsubscribe()
