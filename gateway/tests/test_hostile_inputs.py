"""Hand-made hostile requests (issue 15, item 8): each gets a clear 4xx or a GraphQL error a client can act on, never
a 5xx, an INTERNAL error or a bare websocket `complete`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from websockets.exceptions import ConnectionClosed

from gateway.tests.helpers import SIGN_UP, GraphQLClient, WsClient

Clients = Callable[[], GraphQLClient]
WsConnect = Callable[..., contextlib.AbstractAsyncContextManager[WsClient]]


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code", "") for e in body.get("errors") or []]


async def test_json_nested_20000_deep_is_a_400(http: httpx.AsyncClient) -> None:
    body = '{"query": "{ me { id } }", "variables": ' + "[" * 20_000 + "]" * 20_000 + "}"
    response = await http.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400


async def test_a_body_that_is_not_utf8_is_a_400(http: httpx.AsyncClient) -> None:
    body = b'{"query": "{ me { id } }", "variables": {"x": "\xff\xfe\xc3"}}'
    response = await http.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (SIGN_UP, {"email": "a\ud800@x.io", "password": "correct horse"}),
        ("mutation($t: String!) { createTicket(title: $t, priceCents: 100) { id } }", {"t": "x\udfff"}),
        ('mutation { createTicket(title: "x\\udfff", priceCents: 100) { id } }', {}),  # a syntax error
    ],
)
async def test_lone_surrogates_in_string_arguments_are_refused(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> None:
    body = json.dumps({"query": query, "variables": variables})  # ensure_ascii: the surrogate is a \ud800 escape
    response = await http.post("/graphql", content=body, headers={"content-type": "application/json"})
    if response.status_code == 200:
        found = codes(response.json())
        assert found and set(found) <= {"BAD_USER_INPUT", "UNAUTHENTICATED", ""}, response.text  # "": syntax
    else:
        assert response.status_code == 400


@pytest.mark.parametrize("size", [10_000, 20_000])
async def test_a_huge_bearer_token_is_unauthenticated(clients: Clients, size: int) -> None:
    client = clients()
    client.token = "x" * size
    body = await client.execute('mutation { createTicket(title: "x", priceCents: 100) { id } }')
    assert codes(body) == ["UNAUTHENTICATED"]
    assert (await client.data("{ me { id } }"))["me"] is None


async def test_a_document_nested_3000_deep_over_the_websocket_is_an_error(ws_connect: WsConnect) -> None:
    deep = "{me" + "{id" * 3_000 + "}" * 3_001
    async with ws_connect() as ws:
        await ws.init()
        op_id = await ws.subscribe(deep)
        try:
            message = await ws.receive()
        except ConnectionClosed as closed:  # a clear close code is an acceptable answer too
            assert closed.rcvd is not None and 4400 <= closed.rcvd.code < 4500
            return
        assert message["id"] == op_id and message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_same_document_over_http_is_bad_input(clients: Clients) -> None:
    deep = "{me" + "{id" * 3_000 + "}" * 3_001
    body = await clients().execute(deep)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_introspection_is_not_exempt_from_the_depth_limit(clients: Clients) -> None:
    client = clients()
    standard = await client.execute(get_introspection_query())
    assert not standard.get("errors"), standard  # GraphiQL's own query stays within the limit
    deep = "{ __schema { types { fields { type " + "{ ofType " * 14 + "{ name }" + " }" * 14 + " } } } }"
    refused = await client.execute(deep)
    assert refused["data"] is None
    assert "exceeds maximum operation depth" in refused["errors"][0]["message"]
