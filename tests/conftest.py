"""The whole stack (real servers, five services, the gateway) as subprocesses on free loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from common.devstack import Stack
from tests.client import Client
from tests.helpers import ORDER_WINDOW_SECONDS, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack"), ORDER_WINDOW_SECONDS) as running:
        yield running


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
