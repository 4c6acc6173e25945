"""A fuzzed surface (issue 15, item 7): hypothesis-graphql writes queries and mutations from gateway/schema.graphql
for every root field and sends them to the real gateway over HTTP, signed out or signed in with a real session.

Every answer: no HTTP 5xx, no INTERNAL, no stack trace or internal name in any error, every error with a known code.
Refused mutations change nothing (the tickets listing, the victims' ticket and order, the caller's orders).

Bounded in `make test` (about 100 generated documents over the 13 root fields, derandomized, and a wall-clock
budget per field); `make fuzz` runs FUZZ_EXAMPLES (default 5000 there) with FUZZ_SECONDS per field.

hypothesis drives a sync httpx client in a worker thread (`asyncio.to_thread`): the gateway and the services run
on this test's event loop, which stays free to serve them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import build_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema

from common.testing.poll import eventually
from gateway.app import GatewayApp
from gateway.errors import Code
from gateway.extensions import INVALID_DOCUMENT
from gateway.tests.helpers import SIGN_IN, GraphQLClient, Stack, unique_email

Clients = Callable[[], GraphQLClient]

SCHEMA = (Path(__file__).parents[1] / "schema.graphql").read_text()
_parsed = build_schema(SCHEMA)
QUERIES = sorted(_parsed.query_type.fields) if _parsed.query_type else []
MUTATIONS = sorted(_parsed.mutation_type.fields) if _parsed.mutation_type else []
ROOT_FIELDS = [("query", name) for name in QUERIES] + [("mutation", name) for name in MUTATIONS]

TOTAL_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "104"))  # 8 per root field in `make test`
EXAMPLES_PER_FIELD = max(1, TOTAL_EXAMPLES // len(ROOT_FIELDS))
SECONDS_PER_FIELD = float(os.environ.get("FUZZ_SECONDS", "10"))  # the wall-clock bound of one field's run
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_FIELD,
    deadline=None,
    derandomize=True,  # the same documents every run (FUZZ_EXAMPLES changes how many)
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

KNOWN_CODES = {code.value for code in Code if code is not Code.INTERNAL} | {INVALID_DOCUMENT}
# What a stack trace or an internal name looks like in an answer (unless the client itself wrote it in the request).
INTERNAL_MARKERS = ("Traceback", 'File "', ".py", "grpc", "pymongo", "_svc", "StatusCode", "Exception", "nats")
PASSWORD = "correct horse"


def problems(request: str, response: httpx.Response) -> list[str]:
    """What is wrong with one answer (empty when nothing is)."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:500]}"]
    found: list[str] = []
    if response.status_code != 200:  # a 4xx: its body must not leak either
        texts = [response.text]
        errors: list[dict[str, Any]] = []
    else:
        body = response.json()
        errors = body.get("errors") or []
        texts = [json.dumps(error, ensure_ascii=False) for error in errors]
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if code == Code.INTERNAL.value:
            found.append(f"INTERNAL: {error}")
        elif code not in KNOWN_CODES:
            found.append(f"unknown code {code!r}: {error}")
    for text in texts:
        for marker in INTERNAL_MARKERS:
            if marker in text and marker not in request:
                found.append(f"{marker!r} in an answer: {text[:500]}")
    return found


def outcomes(response: httpx.Response) -> list[str]:
    if response.status_code != 200:
        return [f"HTTP {response.status_code}"]
    errors = response.json().get("errors") or []
    return [str((error.get("extensions") or {}).get("code")) for error in errors] or ["OK"]


class SyncClient:
    """The fuzz's own client (sync, in the worker thread): no cookie jar, a bearer token when signed in."""

    def __init__(self, url: str, email: str, token: str) -> None:
        self.http = httpx.Client(timeout=20)
        self.url = url
        self.email = email
        self.token = token

    def post(self, document: str, signed_in: bool) -> httpx.Response:
        self.http.cookies.clear()
        headers = {"Authorization": f"Bearer {self.token}"} if signed_in else {}
        return self.http.post(self.url, json={"query": document}, headers=headers)

    def sign_in_again(self) -> None:
        """After a fuzzed `signOut` revoked the session."""
        response = self.http.post(
            self.url, json={"query": SIGN_IN, "variables": {"email": self.email, "password": PASSWORD}}
        )
        self.token = response.json()["data"]["signIn"]["token"]


async def fuzz_gateway(stack: Stack, start_gateway: Callable[..., Any]) -> GatewayApp:
    """A gateway of its own (same backends) with rate-limit keys of its own, so that thousands of fuzzed sign-ins
    and sign-ups neither hit the suite's limits nor use up the other tests' allowance."""
    app: GatewayApp = await start_gateway(
        rate_limit_key_prefix="fuzz-limits", auth_attempts_per_address="100000/minute"
    )
    return app


@pytest.mark.parametrize(("kind", "field"), ROOT_FIELDS, ids=[f"{k}-{f}" for k, f in ROOT_FIELDS])
async def test_fuzzed_operations_get_clean_answers(
    stack: Stack, clients: Clients, start_gateway: Callable[..., Any], kind: str, field: str
) -> None:
    gateway = await fuzz_gateway(stack, start_gateway)
    owner = clients()
    email = unique_email()
    session = await owner.sign_up(email, PASSWORD)
    client = SyncClient(f"{gateway.url}/graphql", email, session["token"])
    strategy = from_schema(SCHEMA, fields=[field])  # a query or a mutation, as the field is
    stop_at = time.monotonic() + SECONDS_PER_FIELD
    failures: list[str] = []
    seen: Counter[str] = Counter()
    sent = 0

    @FUZZ_SETTINGS
    @given(document=strategy, signed_in=st.booleans())
    def run(document: str, signed_in: bool) -> None:
        nonlocal sent
        if time.monotonic() > stop_at:
            return
        sent += 1
        response = client.post(document, signed_in)
        found = problems(document, response)
        seen.update(outcomes(response))
        failures.extend(f"{document}\n  -> {problem}" for problem in found)
        if signed_in and "signOut" in document:
            client.sign_in_again()

    try:
        await asyncio.to_thread(run)
    finally:
        client.http.close()
    print(f"{field}: {sent} documents, {dict(seen)}")  # shown with -s
    assert not failures, failures[:5]
    assert sent > 0


async def test_fuzzed_mutations_signed_out_change_nothing(
    stack: Stack, clients: Clients, start_gateway: Callable[..., Any]
) -> None:
    """Every mutation but signUp / signIn, generated and sent with no session: all refused, the listing unchanged."""
    gateway = await fuzz_gateway(stack, start_gateway)
    reader = clients()
    before = await count_listed(reader)
    strategy = from_schema(SCHEMA, fields=[name for name in MUTATIONS if name not in {"signUp", "signIn"}])
    stop_at = time.monotonic() + SECONDS_PER_FIELD
    failures: list[str] = []

    with httpx.Client(timeout=20) as http:

        @FUZZ_SETTINGS
        @given(document=strategy)
        def run(document: str) -> None:
            if time.monotonic() > stop_at:
                return
            response = http.post(f"{gateway.url}/graphql", json={"query": document})
            found = problems(document, response)
            if response.status_code == 200 and "signOut" not in document:
                body = response.json()
                if not body.get("errors") or body.get("data"):
                    found.append(f"not refused: {body}")
            failures.extend(f"{document}\n  -> {problem}" for problem in found)

        await asyncio.to_thread(run)
    assert not failures, failures[:5]
    assert await count_listed(reader) == before


TARGETED = st.one_of(
    st.tuples(st.just("updateTicket"), st.text(max_size=300), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just("cancelOrder"), st.none(), st.none()),
    st.tuples(st.just("payOrder"), st.text(max_size=100), st.none()),
    st.tuples(st.just("createOrder"), st.none(), st.none()),
)


async def test_refused_mutations_on_others_tickets_and_orders_change_nothing(
    stack: Stack, clients: Clients, start_gateway: Callable[..., Any]
) -> None:
    """A seller's ticket, reserved by a buyer's order; an attacker (signed in, signed out, or with a forged token)
    sends fuzzed updateTicket / cancelOrder / payOrder / createOrder at them: every one refused, nothing changed."""
    gateway = await fuzz_gateway(stack, start_gateway)
    seller, buyer, attacker, reader = clients(), clients(), clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    attacker_session = await attacker.sign_up()
    ticket = await seller.create_ticket("Fuzz target", 4_200)
    order = await buyer.create_order(ticket["id"])
    ticket_query = "query($id: ID!) { ticket(id: $id) { id title priceCents status version orderId } }"
    orders_query = "{ myOrders { id status version priceCents } }"

    async def reserved() -> dict[str, Any] | None:  # the order locks the ticket through an event: wait for it
        found: dict[str, Any] = (await reader.data(ticket_query, {"id": ticket["id"]}))["ticket"]
        return found if found["status"] == "RESERVED" and found["orderId"] == order["id"] else None

    ticket_before = await eventually(reserved, "the ticket reserved by the order")
    buyer_orders_before = (await buyer.data(orders_query))["myOrders"]
    listed_before = await count_listed(reader)
    tokens = {
        "signed-in": attacker_session["token"],
        "signed-out": None,
        "forged": attacker_session["token"][:-4] + "AAAA",
    }
    failures: list[str] = []
    stop_at = time.monotonic() + SECONDS_PER_FIELD

    with httpx.Client(timeout=20) as http:

        @FUZZ_SETTINGS
        @given(mutation=TARGETED, who=st.sampled_from(sorted(tokens)))
        def run(mutation: tuple[str, Any, Any], who: str) -> None:
            if time.monotonic() > stop_at:
                return
            name, text, number = mutation
            document, variables = {
                "updateTicket": (
                    "mutation($id: ID!, $t: String!, $p: Int!) { updateTicket(id: $id, title: $t, priceCents: $p) { id } }",  # noqa: E501
                    {"id": ticket["id"], "t": text, "p": number},
                ),
                "cancelOrder": ("mutation($id: ID!) { cancelOrder(id: $id) { id } }", {"id": order["id"]}),
                "payOrder": (
                    "mutation($id: ID!, $m: String!) { payOrder(orderId: $id, paymentMethod: $m) { id } }",
                    {"id": order["id"], "m": text},
                ),
                "createOrder": ("mutation($id: ID!) { createOrder(ticketId: $id) { id } }", {"id": ticket["id"]}),
            }[name]
            token = tokens[who]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = http.post(
                f"{gateway.url}/graphql", json={"query": document, "variables": variables}, headers=headers
            )
            found = problems(document + json.dumps(variables), response)
            if response.status_code == 200 and not response.json().get("errors"):
                found.append(f"not refused: {response.text[:300]}")
            failures.extend(f"{who} {name} {variables}\n  -> {problem}" for problem in found)

        await asyncio.to_thread(run)
    assert not failures, failures[:5]
    assert (await reader.data(ticket_query, {"id": ticket["id"]}))["ticket"] == ticket_before
    assert (await buyer.data(orders_query))["myOrders"] == buyer_orders_before
    assert (await attacker.data(orders_query))["myOrders"] == []
    assert await count_listed(reader) == listed_before


async def count_listed(client: GraphQLClient) -> int:
    """The AVAILABLE tickets in the listing, every page."""
    count, after = 0, None
    query = "query($after: String) { tickets(first: 100, after: $after) { edges { cursor } pageInfo { hasNextPage endCursor } } }"  # noqa: E501
    while True:
        page = (await client.data(query, {"after": after}))["tickets"]
        count += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return count
        after = page["pageInfo"]["endCursor"]
