"""A GraphQL client for the end-to-end tests: HTTP (httpx) and graphql-transport-ws (websockets), as apps use them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import websockets

from common.testing.poll import passes

T = TypeVar("T")


class GraphQLError(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message", "error"))
        self.errors = errors

    @property
    def code(self) -> str:
        return str(self.errors[0].get("extensions", {}).get("code", ""))


class Client:
    """One user's client. With `use_cookie` it keeps the session cookie (a browser); else it sends a bearer token."""

    def __init__(self, base_url: str, *, use_cookie: bool = False) -> None:
        self.base_url = base_url
        self.use_cookie = use_cookie
        self.token: str | None = None
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def close(self) -> None:
        await self.http.aclose()

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {}
        if self.token and not self.use_cookie:
            headers["Authorization"] = f"Bearer {self.token}"
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables)
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        assert response.status_code == 200, response.text
        return body["data"]

    async def sign_up(self, email: str, password: str = "correct horse battery") -> dict[str, Any]:
        data = await self.execute(
            "mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { token user { id email } } }",
            {"e": email, "p": password},
        )
        self.token = data["signUp"]["token"]
        return data["signUp"]["user"]

    @asynccontextmanager
    async def subscribe(self, query: str, variables: dict[str, Any]) -> AsyncIterator[Subscription]:
        url = self.base_url.replace("http://", "ws://") + "/graphql"
        payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                          "payload": {"query": query, "variables": variables}}))  # fmt: skip
            yield Subscription(socket)


class Subscription:
    def __init__(self, socket: Any) -> None:
        self._socket = socket

    async def next(self, timeout: float = 15) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self._socket.recv(), timeout))
            if message["type"] == "next":
                if message["payload"].get("errors"):
                    raise GraphQLError(message["payload"]["errors"])
                return message["payload"]["data"]
            if message["type"] == "error":
                raise GraphQLError(message["payload"])
            if message["type"] == "ping":
                await self._socket.send(json.dumps({"type": "pong"}))
            elif message["type"] == "complete":
                raise AssertionError("subscription completed early")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 20) -> T:
    """`common.testing.poll.passes` for this client: an error answer is "not yet" too (events propagate
    asynchronously); bounded in time."""
    return await passes(check, timeout, retry_on=(AssertionError, GraphQLError))
