"""Rate limits through the real gateway, counted in the suite's Redis (SPEC.md "Accounts"). Each test runs a gateway
of its own with a fresh key prefix, so its counters start at zero whatever else the suite did."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.app import GatewayApp
from gateway.tests.helpers import SIGN_IN, SIGN_UP, GraphQLClient, unique_email

StartGateway = Callable[..., Awaitable[GatewayApp]]
Clients = Callable[[], GraphQLClient]
CREATE_ORDER = "mutation($ticketId: ID!) { createOrder(ticketId: $ticketId) { id } }"
UNKNOWN_ID = "6b0000000000000000000000"


async def gateway_client(start_gateway: StartGateway, clients: Clients, **limits: Any) -> GraphQLClient:
    limits.setdefault("failed_sign_ins_per_address", "5/15 minutes")  # the default, which the suite's raises
    app = await start_gateway(rate_limit_key_prefix=f"t-{uuid.uuid4().hex}", **limits)
    client = clients()
    client.url = f"{app.url}/graphql"
    return client


async def sign_in(client: GraphQLClient, email: str, password: str, address: str | None = None) -> dict[str, Any]:
    headers = {"X-Forwarded-For": address} if address else {}
    response = await client.post(SIGN_IN, {"email": email, "password": password}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


def assert_rate_limited(body: dict[str, Any], max_seconds: int) -> None:
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED", body
    assert 1 <= error["extensions"]["retryAfterSeconds"] <= max_seconds


async def test_failed_sign_ins_are_limited_per_email(start_gateway: StartGateway, clients: Clients) -> None:
    client = await gateway_client(start_gateway, clients, failed_sign_ins_per_address="100/minute")
    email = unique_email()
    await client.sign_up(email, "correct horse")
    for _ in range(5):
        assert error_code(await sign_in(client, f" {email.upper()} ", "wrong password")) == "UNAUTHENTICATED"
    # The sixth attempt is refused before auth checks it: even the right password.
    assert_rate_limited(await sign_in(client, email, "correct horse"), 15 * 60)
    other = unique_email()
    await client.sign_up(other, "correct horse")
    assert error_code(await sign_in(client, other, "correct horse")) is None


async def test_failed_sign_ins_are_limited_per_client_address_from_a_trusted_proxy_header(
    start_gateway: StartGateway, clients: Clients
) -> None:
    client = await gateway_client(
        start_gateway, clients, client_address_header="X-Forwarded-For", failed_sign_ins_per_email="100/minute"
    )
    for _ in range(5):
        body = await sign_in(client, unique_email(), "wrong password", "spoofed, 203.0.113.7")
        assert error_code(body) == "UNAUTHENTICATED"
    assert_rate_limited(await sign_in(client, unique_email(), "wrong password", "203.0.113.7"), 15 * 60)
    assert error_code(await sign_in(client, unique_email(), "wrong password", "203.0.113.8")) == "UNAUTHENTICATED"


async def test_without_a_trusted_proxy_header_the_peer_address_counts(
    start_gateway: StartGateway, clients: Clients
) -> None:
    client = await gateway_client(start_gateway, clients, failed_sign_ins_per_email="100/minute")
    for index in range(5):
        body = await sign_in(client, unique_email(), "wrong password", f"198.51.100.{index}")
        assert error_code(body) == "UNAUTHENTICATED"
    assert_rate_limited(await sign_in(client, unique_email(), "wrong password", "198.51.100.99"), 15 * 60)


async def test_aliased_sign_ins_stop_at_the_first_failure_and_each_attempt_counts(
    start_gateway: StartGateway, clients: Clients
) -> None:
    client = await gateway_client(start_gateway, clients, failed_sign_ins_per_address="100/minute")
    email = unique_email()
    await client.sign_up(email, "correct horse")
    aliases = " ".join(f'a{i}: signIn(email: "{email}", password: "guess{i}") {{ token }}' for i in range(30))
    body = await client.execute(f"mutation {{ {aliases} }}")
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]  # one reached auth
    for _ in range(4):
        assert error_code(await sign_in(client, email, "wrong password")) == "UNAUTHENTICATED"
    assert_rate_limited(await sign_in(client, email, "wrong password"), 15 * 60)


async def test_sign_ups_and_sign_ins_are_limited_per_address(start_gateway: StartGateway, clients: Clients) -> None:
    client = await gateway_client(start_gateway, clients, auth_attempts_per_address="3/minute")
    email = unique_email()
    await client.sign_up(email, "correct horse")
    await client.data(SIGN_IN, {"email": email, "password": "correct horse"})
    await client.sign_up()
    assert_rate_limited(await client.execute(SIGN_UP, {"email": unique_email(), "password": "correct horse"}), 60)
    assert_rate_limited(await sign_in(client, email, "correct horse"), 60)


async def test_create_order_is_limited_per_user(start_gateway: StartGateway, clients: Clients) -> None:
    client = await gateway_client(start_gateway, clients, create_orders_per_user="2/minute")
    await client.sign_up()
    for _ in range(2):
        assert error_code(await client.execute(CREATE_ORDER, {"ticketId": UNKNOWN_ID})) == "NOT_FOUND"
    assert_rate_limited(await client.execute(CREATE_ORDER, {"ticketId": UNKNOWN_ID}), 60)
    other = clients()
    other.url = client.url
    await other.sign_up()  # another user has an allowance of their own
    assert error_code(await other.execute(CREATE_ORDER, {"ticketId": UNKNOWN_ID})) == "NOT_FOUND"


async def test_create_order_with_a_forged_token_counts_for_nobody(
    start_gateway: StartGateway, clients: Clients
) -> None:
    client = await gateway_client(start_gateway, clients, create_orders_per_user="1/minute")
    client.token = "not.a.token"
    assert error_code(await client.execute(CREATE_ORDER, {"ticketId": UNKNOWN_ID})) == "UNAUTHENTICATED"
