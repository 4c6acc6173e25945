"""The gateway against the real services: auth, tickets, orders and payments started on port 0 against the plugin's
real MongoDB-compatible server, a NATS server of this suite and the Stripe emulator; the gateway itself is a real
uvicorn server on a free loopback port. One stack serves the whole suite (tests use fresh accounts and tickets)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect

from auth_svc.app import AuthApp
from auth_svc.settings import AuthSettings
from common.testing import servers
from common.testing.plugin import JwtKeys
from common.testing.retry import FAST_RETRY
from common.testing.servers import RunningServer
from gateway.app import GatewayApp
from gateway.settings import GatewaySettings
from gateway.tests.helpers import WS_PROTOCOL, GraphQLClient, Stack, WsClient
from orders_svc.app import OrdersApp
from orders_svc.settings import OrdersSettings
from payments_svc.app import PaymentsApp
from payments_svc.settings import PaymentsSettings
from tickets_svc.app import TicketsApp
from tickets_svc.settings import TicketsSettings


@pytest_asyncio.fixture(scope="session")
async def stack(
    mongo_server: RunningServer,
    stripe_server: RunningServer,
    jwt_keys: JwtKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    nats = servers.start_nats(tmp_path_factory.mktemp("gateway-nats"), cleanup_dir=True)
    redis = servers.start_redis(tmp_path_factory.mktemp("gateway-redis"), cleanup_dir=True)
    suffix = uuid.uuid4().hex[:8]
    common: dict[str, Any] = {
        "environment": "test",
        "grpc_port": 0,
        "mongo_url": mongo_server.url,
        "jwt_public_key_file": jwt_keys.public_key_file,
        "grace_seconds": 1,
    }
    services: dict[str, Any] = {}
    try:
        services["auth"] = AuthApp(
            AuthSettings(
                **common,
                nats_url=nats.url_as("auth_svc"),
                mongo_db=f"gw_auth_{suffix}",
                jwt_private_key_file=jwt_keys.private_key_file,
            )
        )
        services["tickets"] = TicketsApp(
            TicketsSettings(**common, nats_url=nats.url_as("tickets_svc"), mongo_db=f"gw_tickets_{suffix}"),
            retry=FAST_RETRY,
        )
        services["orders"] = OrdersApp(  # one buyer orders 50 tickets in the batching test
            OrdersSettings(
                **common,
                nats_url=nats.url_as("orders_svc"),
                mongo_db=f"gw_orders_{suffix}",
                max_active_orders_per_buyer=100,
            ),
            retry=FAST_RETRY,
        )
        services["payments"] = PaymentsApp(
            PaymentsSettings(
                **common,
                nats_url=nats.url_as("payments_svc"),
                mongo_db=f"gw_payments_{suffix}",
                stripe_api_base=stripe_server.url,
            ),
            retry=FAST_RETRY,
        )
        for app in services.values():
            await app.start()
        gateway_settings: dict[str, Any] = {
            "environment": "test",
            "gateway_port": 0,
            "auth_grpc_target": services["auth"].target,
            "tickets_grpc_target": services["tickets"].target,
            "orders_grpc_target": services["orders"].target,
            "payments_grpc_target": services["payments"].target,
            "nats_url": nats.url_as("gateway"),
            "redis_url": redis.url,
            "jwt_public_key_file": jwt_keys.public_key_file,
            # Every test signs in from 127.0.0.1: the per-address failure limit is tested on gateways of its own.
            "failed_sign_ins_per_address": "10000/15 minutes",
            "create_orders_per_user": "1000/minute",
            "graceful_shutdown_seconds": 1,
        }
        gateway = GatewayApp(GatewaySettings(**gateway_settings))
        await gateway.start()
        result = Stack(nats, services, gateway, jwt_keys, gateway_settings)
        yield result
        for extra in result.extra:
            await extra.stop()
        await gateway.stop()
        refused = servers.permission_violations(nats)  # every process here runs as its own NATS user
        assert not refused, "NATS refused a process (common/natsauth.py too narrow?):\n" + "\n".join(refused[:10])
    finally:
        for app in reversed(list(services.values())):
            with contextlib.suppress(Exception):
                await app.stop()
        nats.stop()
        redis.stop()


@pytest_asyncio.fixture
async def start_gateway(stack: Stack) -> AsyncIterator[Callable[..., Awaitable[GatewayApp]]]:
    """Another gateway on the same backends, with some settings changed; stopped after the test."""
    started: list[GatewayApp] = []

    async def start(**overrides: Any) -> GatewayApp:
        app = GatewayApp(stack.settings(gateway_port=0, **overrides))
        await app.start()
        started.append(app)
        return app

    yield start
    for app in reversed(started):
        await app.stop()


@pytest_asyncio.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=20) as client:
        yield client


@pytest_asyncio.fixture
async def clients(stack: Stack) -> AsyncIterator[Callable[[], GraphQLClient]]:
    """Makes independent clients (own cookie jar, own token); closes them after the test."""
    opened: list[httpx.AsyncClient] = []

    def make() -> GraphQLClient:
        http = httpx.AsyncClient(timeout=20)
        opened.append(http)
        return GraphQLClient(http, stack.url)

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
def ws_connect(stack: Stack) -> Callable[..., contextlib.AbstractAsyncContextManager[WsClient]]:
    @contextlib.asynccontextmanager
    async def open_ws(
        app: GatewayApp | None = None,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
    ) -> AsyncIterator[WsClient]:
        base = (app or stack.gateway).url.replace("http://", "ws://")
        async with connect(
            f"{base}/graphql",
            subprotocols=subprotocols or [WS_PROTOCOL],  # type: ignore[arg-type]
            additional_headers=headers or {},
            open_timeout=10,
        ) as connection:
            yield WsClient(connection)

    return open_ws
