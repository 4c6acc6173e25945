"""Helpers of the gateway tests (fixtures live in conftest.py): the suite's stack, a GraphQL client over HTTP as
a browser or app would be, graphql-transport-ws spoken by hand, and the operations the tests share."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.servers import RunningServer
from gateway.app import GatewayApp
from gateway.settings import GatewaySettings

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

        return await eventually(attempt, f"an order of ticket {ticket_id}")


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
