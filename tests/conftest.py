"""The whole stack (real servers, five services, the gateway) as subprocesses on free loopback ports."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from common.devstack import Stack
from tests.client import Client

ORDER_WINDOW_SECONDS = 60
WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"  # built by `make web`; the gateway serves it at /


def start_stack(data_dir: Path, order_window: int, extra_env: dict[str, str] | None = None) -> Stack:
    """The stack as `make dev` starts it (first-run files, servers, services), on free ports, in test mode."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"MONGO_URL", "NATS_URL", "REDIS_URL", "STRIPE_API_BASE", "JWT_PRIVATE_KEY_FILE",
                          "JWT_PUBLIC_KEY_FILE"}}  # fmt: skip
    env.update({
        "ENVIRONMENT": "test",
        "ORDER_EXPIRATION_SECONDS": str(order_window),
        "GRACE_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        "WEB_DIST_DIR": str(WEB_DIST),
        **(extra_env or {}),
    })  # fmt: skip
    stack = Stack.on_free_ports(data_dir, env)
    stack.prepare()
    stack.start_infrastructure()
    stack.start_services()
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), ORDER_WINDOW_SECONDS)
    try:
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture
async def live_stack(stack: Stack) -> Stack:
    await stack.wait_healthy(timeout=90)
    return stack


@pytest_asyncio.fixture
async def clients(live_stack: Stack) -> AsyncIterator[list[Client]]:
    """Fresh clients against the gateway; closed after the test."""
    made: list[Client] = []
    yield made
    for client in made:
        await client.close()


def gateway_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports['gateway']}"
