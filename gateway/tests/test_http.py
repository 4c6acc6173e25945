"""The HTTP edge: health, readiness, and documents that are malformed, too deep, too wide or too big."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from common.testing.servers import free_port
from gateway import export_schema
from gateway.schema import sdl
from gateway.tests.helpers import GraphQLClient, Stack

Clients = Callable[[], GraphQLClient]


async def test_healthz_is_always_ok(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_every_backend(http: httpx.AsyncClient, start_gateway: Any) -> None:
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["backends"] == dict.fromkeys(("auth", "tickets", "orders", "payments"), "SERVING")

    broken = await start_gateway(orders_grpc_target=f"127.0.0.1:{free_port()}", readiness_timeout_seconds=0.5)
    async with httpx.AsyncClient(base_url=broken.url) as client:
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        backends = not_ready.json()["backends"]
        assert backends["orders"] != "SERVING"
        assert {backends[name] for name in ("auth", "tickets", "payments")} == {"SERVING"}
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready


async def test_unknown_paths_are_404(http: httpx.AsyncClient) -> None:
    assert (await http.get("/nope")).status_code == 404


async def test_malformed_requests_are_4xx_never_500(http: httpx.AsyncClient) -> None:
    json_headers = {"Content-Type": "application/json"}
    bodies: list[tuple[str, dict[str, str]]] = [
        ("{not json", json_headers),
        ('"a string"', json_headers),
        ("42", json_headers),
        ('{"query": 5}', json_headers),
        ('{"query": "{ me { id } }", "variables": []}', json_headers),
        ('{"query": "{ me { id } }", "operationName": 7}', json_headers),
        ("{}", json_headers),
        ('[{"query": "{ me { id } }"}]', json_headers),  # batching is off
        ('{"query": "{ me { id } }"}', {"Content-Type": "text/plain"}),
        ("query={ me { id } }", {"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    for body, headers in bodies:
        response = await http.post("/graphql", content=body, headers=headers)
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert "Traceback" not in response.text
    assert (await http.get("/graphql", params={"query": "{ me { id } }"})).status_code == 400  # POST only
    assert (await http.put("/graphql", json={"query": "{ me { id } }"})).status_code == 405


async def test_bad_documents_are_graphql_errors(clients: Clients) -> None:
    client = clients()
    for document in ("{ me { id ", "{ nope }", "query { me { id } } query { me { id } }", "{ ticket { id } }"):
        body = await client.execute(document)  # 200 with errors, never a 500
        assert body["errors"] and not body.get("data"), (document, body)
    syntax = await client.execute("{ me { id ")
    assert "Syntax Error" in syntax["errors"][0]["message"]


async def test_a_subscription_over_http_is_refused(http: httpx.AsyncClient) -> None:
    document = 'subscription { ticketStatus(ticketId: "6b0000000000000000000000") { status } }'
    response = await http.post("/graphql", json={"query": document})
    assert response.status_code == 400


async def test_too_deep_queries_are_refused(clients: Clients, start_gateway: Any) -> None:
    deep = "{ me " + "{ id " * 14 + "}" * 14 + " }"
    body = await clients().execute(deep)
    assert any("exceeds maximum operation depth of 12" in e["message"] for e in body["errors"]), body

    shallow = await start_gateway(max_query_depth=1)
    client = clients()
    client.url = f"{shallow.url}/graphql"
    assert (await client.execute("{ me { id } }")) == {"data": {"me": None}}
    refused = await client.execute("{ myOrders { ticket { id } } }")
    assert refused["errors"][0]["message"] == "'anonymous' exceeds maximum operation depth of 1"
    fragments = await client.execute("query Q { ...F } fragment F on Query { myOrders { ticket { id } } }")
    assert "exceeds maximum operation depth" in fragments["errors"][0]["message"]


async def test_too_many_aliases_are_refused(clients: Clients) -> None:
    many = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(31)) + " }"
    body = await clients().execute(many)
    assert body["errors"][0]["message"] == "31 aliases found. Allowed: 30"
    thirty = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(30)) + " }"
    assert not (await clients().execute(thirty)).get("errors")


async def test_oversized_documents_are_refused_before_parsing(
    stack: Stack, http: httpx.AsyncClient, ws_connect: Any
) -> None:
    limit = stack.gateway.settings.max_document_bytes
    padded = "{ me { id } }" + " " * limit  # would parse fine: the size alone refuses it
    response = await http.post("/graphql", json={"query": padded})
    assert response.status_code == 413
    multibyte = "{ me { id } } #" + "é" * (limit // 2)  # fewer characters than the limit, more bytes
    assert (await http.post("/graphql", json={"query": multibyte})).status_code == 413
    body_limit = stack.gateway.settings.max_body_bytes
    huge = await http.post("/graphql", json={"query": "{ me { id } }", "variables": {"x": "y" * body_limit}})
    assert huge.status_code == 413

    async with ws_connect() as ws:
        await ws.init()
        op = await ws.subscribe('subscription { ticketStatus(ticketId: "x") { status } }' + " " * limit)
        message = await ws.receive()
        assert message["id"] == op
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "DOCUMENT_TOO_LARGE"


def test_the_checked_in_sdl_matches_the_code() -> None:
    assert export_schema.SDL_PATH.read_text() == sdl(), "run `python -m gateway.export_schema`"
    assert export_schema.main(["--check"]) == 0


def test_the_sdl_keeps_the_public_contract() -> None:
    text = sdl()
    for line in (
        "me: User",
        "tickets(first: Int = 20, after: String): TicketConnection!",
        "ticket(id: ID!): Ticket",
        "myOrders: [Order!]!",
        "order(id: ID!): Order",
        "signUp(email: String!, password: String!): AuthPayload!",
        "signIn(email: String!, password: String!): AuthPayload!",
        "signOut: Boolean!",
        "createTicket(title: String!, priceCents: Int!): Ticket!",
        "updateTicket(id: ID!, title: String!, priceCents: Int!): Ticket!",
        "createOrder(ticketId: ID!): Order!",
        "cancelOrder(id: ID!): Order!",
        "payOrder(orderId: ID!, paymentMethod: String!): Payment!",
        "ticketStatus(ticketId: ID!): TicketStatusEvent!",
        "orderStatus(orderId: ID!): Order!",
        "expiresAt: DateTime!",
        "ticket: Ticket!",
        "stripeId: String!",
        "orderId: ID",
    ):
        assert f"  {line}\n" in text, line
    for enum_values in ("AVAILABLE\n  RESERVED\n  SOLD", "CREATED\n  CANCELLED\n  COMPLETE"):
        assert enum_values in text
