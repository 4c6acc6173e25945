"""The pytest plugin every test suite uses (`-p common.testing.plugin` in pyproject): real servers on free ports.

- `mongo_server` (session) + `mongo_db`: a fresh database name per test on one nx-27017 server.
- `own_mongo`: a MongoDB-wire server of one test only, which it may stop and restart (outage tests).
- `nats_server`, `redis_server`: a fresh server per test (each starts in well under a second), so durable
  consumers and streams never leak between tests.
- `stripe_server` (session): localstripe.
- `jwt_keys`: a fresh Ed25519 key pair, with an issuer and a verifier for it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from common.bus import EventBus
from common.testing import servers
from common.tokens import TokenIssuer, TokenVerifier, generate_key_pair, load_issuer, load_verifier


@dataclass(frozen=True)
class JwtKeys:
    private_key_file: Path
    public_key_file: Path
    issuer: TokenIssuer
    verifier: TokenVerifier


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RunningServer]:
    server = servers.start_mongo(tmp_path_factory.mktemp("mongo"), cleanup_dir=True)
    yield server
    server.stop()


@pytest.fixture
def mongo_db() -> str:
    """A database name no other test uses."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def own_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Restartable]:
    """The session's shared server must never go down: an outage test stops and restarts this one."""
    server = servers.Restartable(servers.start_mongo(tmp_path_factory.mktemp("own-mongo")))  # data kept across stops
    yield server
    server.stop()


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RunningServer]:
    server = servers.start_nats(tmp_path_factory.mktemp("nats"), cleanup_dir=True)
    yield server
    server.stop()


@pytest_asyncio.fixture
async def bus(nats_server: servers.RunningServer) -> AsyncIterator[EventBus]:
    event_bus = await EventBus.connect(nats_server.url, "test")
    yield event_bus
    await event_bus.close()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RunningServer]:
    server = servers.start_redis(tmp_path_factory.mktemp("redis"), cleanup_dir=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stripe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RunningServer]:
    server = servers.start_stripe(tmp_path_factory.mktemp("stripe"), cleanup_dir=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jwt_keys(tmp_path_factory: pytest.TempPathFactory) -> JwtKeys:
    private_path, public_path = generate_key_pair(tmp_path_factory.mktemp("keys"))
    return JwtKeys(
        private_path,
        public_path,
        load_issuer(private_path, dt.timedelta(hours=1), is_prod=True),
        load_verifier(public_path, is_prod=True),
    )
