"""The gateway against the real services: auth, tickets, orders and payments started on port 0 against the plugin's
real MongoDB-compatible server, a NATS server of this suite and the Stripe emulator; the gateway itself is a real
uvicorn server on a free loopback port. One stack serves the whole suite (tests use fresh accounts and tickets)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect

from auth_svc.app import AuthApp
from auth_svc.settings import AuthSettings
from common.bus import RetryPolicy
from common.testing import servers
from common.testing.plugin import JwtKeys
from common.testing.poll import wait_for
from common.testing.servers import RunningServer
from gateway.app import GatewayApp
from gateway.settings import GatewaySettings
from orders_svc.app import OrdersApp
from orders_svc.settings import OrdersSettings
from payments_svc.app import PaymentsApp
from payments_svc.settings import PaymentsSettings
from tickets_svc.app import TicketsApp
from tickets_svc.settings import TicketsSettings

T = TypeVar("T")
FAST_RETRY = RetryPolicy(first_delay=0.05, max_delay=0.2, ack_wait=5.0)
WS_PROTOCOL = "graphql-transport-ws"
_emails = itertools.count()


@dataclass
class Stack:
    nats: RunningServer
    services: dict[str, Any]
    gateway: GatewayApp
    jwt_keys: JwtKeys
    gateway_settings: dict[str, Any]  # what the suite's gateway was configured with
    extra: list[GatewayApp] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.gateway.url}/graphql"

    def settings(self, **overrides: Any) -> GatewaySettings:
        """The suite's gateway settings with some changed, validated (so per-environment defaults apply)."""
        return GatewaySettings(**{**self.gateway_settings, **overrides})


@pytest_asyncio.fixture(scope="session")
async def stack(
    mongo_server: RunningServer,
    stripe_server: RunningServer,
    jwt_keys: JwtKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    nats = servers.start_nats(tmp_path_factory.mktemp("gateway-nats"), cleanup_dir=True)
    suffix = uuid.uuid4().hex[:8]
    common: dict[str, Any] = {
        "environment": "test",
        "grpc_port": 0,
        "mongo_url": mongo_server.url,
        "nats_url": nats.url,
        "jwt_public_key_file": jwt_keys.public_key_file,
        "grace_seconds": 1,
    }
    services: dict[str, Any] = {}
    try:
        services["auth"] = AuthApp(
            AuthSettings(**common, mongo_db=f"gw_auth_{suffix}", jwt_private_key_file=jwt_keys.private_key_file)
        )
        services["tickets"] = TicketsApp(TicketsSettings(**common, mongo_db=f"gw_tickets_{suffix}"), retry=FAST_RETRY)
        services["orders"] = OrdersApp(OrdersSettings(**common, mongo_db=f"gw_orders_{suffix}"), retry=FAST_RETRY)
        services["payments"] = PaymentsApp(
            PaymentsSettings(**common, mongo_db=f"gw_payments_{suffix}", stripe_api_base=stripe_server.url),
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
            "nats_url": nats.url,
            "graceful_shutdown_seconds": 1,
        }
        gateway = GatewayApp(GatewaySettings(**gateway_settings))
        await gateway.start()
        result = Stack(nats, services, gateway, jwt_keys, gateway_settings)
        yield result
        for extra in result.extra:
            await extra.stop()
        await gateway.stop()
    finally:
        for app in reversed(list(services.values())):
            with contextlib.suppress(Exception):
                await app.stop()
        nats.stop()


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


# --- GraphQL over HTTP ---


class GraphQLClient:
    """A client as a browser or app would be: httpx against the real server; keeps cookies like a browser."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.token: str | None = None  # sent as Authorization: Bearer when set

    async def post(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return await self.http.post(
            self.url, json={"query": query, "variables": variables or {}}, headers=headers, **kwargs
        )

    async def execute(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The JSON answer (data + errors) of a 200 response."""
        response = await self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """`data` of an answer that must have no errors."""
        body = await self.execute(query, variables)
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The one error of an answer that must fail."""
        body = await self.execute(query, variables)
        errors = body.get("errors") or []
        assert len(errors) == 1, body
        error: dict[str, Any] = errors[0]
        return error

    async def sign_up(self, email: str | None = None, password: str = "correct horse") -> dict[str, Any]:
        """A new account, signed in with a bearer token on this client. Returns {user, token}."""
        email = email or unique_email()
        data = await self.data(SIGN_UP, {"email": email, "password": password})
        payload: dict[str, Any] = data["signUp"]
        self.token = payload["token"]
        self.http.cookies.clear()  # bearer only, unless a test wants the cookie
        return payload

    async def create_ticket(self, title: str = "Concert", price_cents: int = 2_500) -> dict[str, Any]:
        data = await self.data(CREATE_TICKET, {"title": title, "price": price_cents})
        ticket: dict[str, Any] = data["createTicket"]
        return ticket

    async def create_order(self, ticket_id: str) -> dict[str, Any]:
        """Orders `ticket_id`, waiting (bounded) until the orders service has heard of the new ticket."""

        async def attempt() -> dict[str, Any] | None:
            body = await self.execute(CREATE_ORDER, {"ticketId": ticket_id})
            if body.get("errors"):
                code = body["errors"][0]["extensions"]["code"]
                assert code == "NOT_FOUND", body  # only "not replicated yet" is worth another try
                return None
            order: dict[str, Any] = body["data"]["createOrder"]
            return order

        return await wait_for(attempt, f"an order of ticket {ticket_id}")


def unique_email() -> str:
    return f"gw{next(_emails)}-{uuid.uuid4().hex[:8]}@example.com"


SIGN_UP = "mutation($email: String!, $password: String!) { signUp(email: $email, password: $password) { user { id email } token expiresAt } }"  # noqa: E501
SIGN_IN = "mutation($email: String!, $password: String!) { signIn(email: $email, password: $password) { user { id email } token } }"  # noqa: E501
TICKET_FIELDS = "id title priceCents sellerId status version orderId"
ORDER_FIELDS = f"id status expiresAt version priceCents ticket {{ {TICKET_FIELDS} }}"
CREATE_TICKET = f"mutation($title: String!, $price: Int!) {{ createTicket(title: $title, priceCents: $price) {{ {TICKET_FIELDS} }} }}"  # noqa: E501
CREATE_ORDER = f"mutation($ticketId: ID!) {{ createOrder(ticketId: $ticketId) {{ {ORDER_FIELDS} }} }}"
CANCEL_ORDER = f"mutation($id: ID!) {{ cancelOrder(id: $id) {{ {ORDER_FIELDS} }} }}"
PAY_ORDER = "mutation($orderId: ID!, $pm: String!) { payOrder(orderId: $orderId, paymentMethod: $pm) { id orderId stripeId amountCents } }"  # noqa: E501


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


# --- GraphQL over graphql-transport-ws ---


class WsClient:
    """graphql-transport-ws spoken by hand over a real websocket."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = itertools.count(1)

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        return ack

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout: float = 15.0) -> dict[str, Any]:
        """The next message that is not a ping (pings are answered)."""
        while True:
            raw = await asyncio.wait_for(self.connection.recv(), timeout)
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op_id = str(next(self._ids))
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})
        return op_id

    async def next_data(self, op_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """The data of the next `next` message of `op_id` (it must have no errors)."""
        message = await self.receive(timeout)
        assert message.get("id") == op_id and message["type"] == "next", message
        assert not message["payload"].get("errors"), message
        data: dict[str, Any] = message["payload"]["data"]
        return data


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
            subprotocols=subprotocols or [WS_PROTOCOL],  # type: ignore[list-item]
            additional_headers=headers or {},
            open_timeout=10,
        ) as connection:
            yield WsClient(connection)

    return open_ws
