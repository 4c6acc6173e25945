"""Sign-out revokes the session: within 2 seconds the token is refused through the gateway and by every service
directly, whether it came as a bearer token or a cookie (SPEC.md "Accounts")."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from common.testing.grpc import bearer
from common.testing.poll import eventually
from gateway.tests.helpers import CREATE_TICKET, GraphQLClient, Stack
from ticketstore.auth.v1 import auth_pb2, auth_pb2_grpc
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc
from ticketstore.payments.v1 import payments_pb2, payments_pb2_grpc
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

Clients = Callable[[], GraphQLClient]
SIGN_OUT = "mutation { signOut }"
ME = "{ me { id } }"


async def refused_by_every_service(stack: Stack, token: str) -> bool:
    calls = [
        (auth_pb2_grpc.AuthServiceStub, "auth", "GetCurrentUser", auth_pb2.GetCurrentUserRequest()),
        (tickets_pb2_grpc.TicketsServiceStub, "tickets", "CreateTicket", tickets_pb2.CreateTicketRequest(title="x", price_cents=100)),  # noqa: E501
        (orders_pb2_grpc.OrdersServiceStub, "orders", "ListMyOrders", orders_pb2.ListMyOrdersRequest()),
        (payments_pb2_grpc.PaymentsServiceStub, "payments", "CreatePayment", payments_pb2.CreatePaymentRequest(order_id="6b0000000000000000000000", payment_method="pm_card_visa")),  # noqa: E501
    ]  # fmt: skip
    for stub_class, name, method, request in calls:
        async with grpc.aio.insecure_channel(stack.services[name].target) as channel:
            try:
                await getattr(stub_class(channel), method)(request, metadata=bearer(token))
            except grpc.aio.AioRpcError as error:
                if error.code() is grpc.StatusCode.UNAUTHENTICATED:
                    continue
            return False
    return True


async def test_a_signed_out_bearer_token_is_refused_everywhere_within_two_seconds(
    stack: Stack, clients: Clients
) -> None:
    client, bystander = clients(), clients()
    await client.sign_up()
    await bystander.sign_up()
    token = client.token
    assert token is not None
    assert (await client.data(ME))["me"] is not None
    assert (await client.data(SIGN_OUT))["signOut"] is True

    async def refused_by_the_gateway() -> bool:
        body = await client.execute(CREATE_TICKET, {"title": "After sign-out", "price": 1_000})
        return bool(body.get("errors")) and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    await eventually(refused_by_the_gateway, "the gateway to refuse the token", timeout=2)
    assert (await client.data(ME))["me"] is None
    assert await refused_by_every_service(stack, token)
    assert (await bystander.data(ME))["me"] is not None  # other sessions live on
    assert (await client.data(SIGN_OUT))["signOut"] is True  # signing out again is harmless


async def test_a_signed_out_cookie_session_is_refused(clients: Clients) -> None:
    browser = clients()
    payload = await browser.sign_up()
    browser.token = None
    stolen = clients()
    stolen.http.cookies.set("session", payload["token"])  # a copy of the cookie, kept by someone else
    browser.http.cookies.set("session", payload["token"])
    assert (await browser.data(ME))["me"] is not None
    await browser.data(SIGN_OUT)

    async def refused() -> bool:
        return (await stolen.data(ME))["me"] is None

    await eventually(refused, "the copied cookie to be refused", timeout=2)
