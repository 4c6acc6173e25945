"""The pytest plugin every test suite uses (`-p common.testing.plugin` in pyproject): real servers on free ports.

- `mongo_server` (session) + `mongo_db`: a fresh database name per test on one nx-27017 server.
- `own_mongo`: a MongoDB-wire server of one test only, which it may stop and restart (outage tests).
- `nats_server`, `redis_server`: a fresh server per test (each starts in well under a second), so durable
  consumers and streams never leak between tests. NATS has the users of common.natsauth (`url` carries no
  credentials: `url_as(user)` for a process, `admin_url` for the test itself); a permission refusal during the
  test fails it.
- `stripe_server` (session): localstripe.
- `jwt_keys`: a fresh Ed25519 key pair, with an issuer and a verifier for it.

Every test gets one tier marker (`pytest -m unit` etc.; registered in pyproject), unless its module declares one:
- `k8s`: tests/k8s (the manifests); `e2e`: the rest of the root tests/ (the whole stack through the gateway);
- `integration`: a test that uses, directly or through its fixtures, a server or the disk (`IO_FIXTURES`);
- `unit`: everything else. A unit test that starts a process or opens a socket fails (`no_io`), so `make unit`
  really runs without servers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import pytest_asyncio

from common.bus import EventBus
from common.testing import servers
from common.tokens import TokenIssuer, TokenVerifier, generate_key_pair, load_issuer, load_verifier

TIERS = ("unit", "integration", "e2e", "k8s")
# A test using one of these (directly or through another fixture) starts a server or touches the disk.
IO_FIXTURES = frozenset(
    {"mongo_server", "nats_server", "redis_server", "stripe_server", "bus", "jwt_keys", "tmp_path", "tmp_path_factory"}
)


def tier_of(item: pytest.Item) -> str:
    """The tier a test belongs to by where it lives and what it uses (see the module docstring)."""
    parts = Path(str(item.path)).relative_to(item.config.rootpath).parts
    if parts[0] == "tests":
        return "k8s" if parts[1] == "k8s" else "e2e"
    return "integration" if IO_FIXTURES & set(getattr(item, "fixturenames", ())) else "unit"


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        declared = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if not declared:
            item.add_marker(tier_of(item))
        elif declared == {"unit"} and tier_of(item) != "unit":
            raise pytest.UsageError(f"{item.nodeid} is marked unit but uses a server or the disk")
        elif len(declared) > 1:
            raise pytest.UsageError(f"{item.nodeid} has more than one tier: {sorted(declared)}")


def _io_refused(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise AssertionError("a unit test may not start a process or open a socket: mark it integration")


@contextlib.contextmanager
def no_io() -> Iterator[None]:
    """Processes and sockets refused (what a unit test may not do)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _io_refused)
        for method in ("connect", "connect_ex", "bind"):
            patch.setattr(socket.socket, method, _io_refused)
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with no_io() if item.get_closest_marker("unit") else contextlib.nullcontext():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with no_io() if item.get_closest_marker("unit") else contextlib.nullcontext():
        return (yield)


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
    """A NATS server with the users of common.natsauth. A test during which the server refused any client an action
    fails: every process under test runs as its own user, so a refusal means the permission table is too narrow."""
    server = servers.start_nats(tmp_path_factory.mktemp("nats"), cleanup_dir=True)
    yield server
    violations = servers.permission_violations(server)
    server.stop()
    if violations:
        pytest.fail("NATS refused a client (common/natsauth.py too narrow?):\n" + "\n".join(violations[:10]))


@pytest_asyncio.fixture
async def bus(nats_server: servers.RunningServer) -> AsyncIterator[EventBus]:
    event_bus = await EventBus.connect(nats_server.admin_url, "test")
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
