"""Every operation of SPEC.md "The public API" through real HTTP, with the error codes SPEC.md lists for failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.testing.poll import eventually
from common.testing.servers import free_port
from gateway.tests.helpers import (
    CANCEL_ORDER,
    ORDER_FIELDS,
    PAY_ORDER,
    SIGN_IN,
    SIGN_UP,
    TICKET_FIELDS,
    GraphQLClient,
    Stack,
    unique_email,
)

Clients = Callable[[], GraphQLClient]
UPDATE_TICKET = f"mutation($id: ID!, $title: String!, $price: Int!) {{ updateTicket(id: $id, title: $title, priceCents: $price) {{ {TICKET_FIELDS} }} }}"  # noqa: E501
TICKET = f"query($id: ID!) {{ ticket(id: $id) {{ {TICKET_FIELDS} }} }}"
TICKETS = f"query($first: Int, $after: String) {{ tickets(first: $first, after: $after) {{ edges {{ cursor node {{ {TICKET_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"  # noqa: E501
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
MY_ORDERS = f"{{ myOrders {{ {ORDER_FIELDS} }} }}"
CREATE_ORDER = "mutation($ticketId: ID!) { createOrder(ticketId: $ticketId) { id } }"
UNKNOWN_ID = "6b0000000000000000000000"


def code(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])


def fields(error: dict[str, Any]) -> list[str]:
    return [item["field"] for item in error["extensions"]["fields"]]


async def status_of(client: GraphQLClient, ticket_id: str) -> str:
    return str((await client.data(TICKET, {"id": ticket_id}))["ticket"]["status"])


async def wait_status(client: GraphQLClient, ticket_id: str, status: str) -> None:
    async def reached() -> bool:
        return await status_of(client, ticket_id) == status

    await eventually(reached, f"ticket {ticket_id} to be {status}")


# --- accounts ---


async def test_sign_up_then_sign_in_and_me(clients: Clients) -> None:
    client = clients()
    email = unique_email()
    signed_up = await client.sign_up(f"  {email.upper()} ")
    assert signed_up["user"]["email"] == email
    assert (await client.data("{ me { id email } }"))["me"] == signed_up["user"]

    other = clients()
    signed_in = (await other.data(SIGN_IN, {"email": email, "password": "correct horse"}))["signIn"]
    assert signed_in["user"] == signed_up["user"]
    other.http.cookies.clear()
    other.token = signed_in["token"]
    assert (await other.data("{ me { id } }"))["me"]["id"] == signed_up["user"]["id"]


async def test_me_is_null_when_signed_out(clients: Clients) -> None:
    assert await clients().data("{ me { id } }") == {"me": None}


async def test_account_failures(clients: Clients) -> None:
    client = clients()
    email = unique_email()
    await client.sign_up(email)
    taken = await client.error(SIGN_UP, {"email": email.upper(), "password": "another one"})
    assert code(taken) == "CONFLICT"
    bad_email = await client.error(SIGN_UP, {"email": "not-an-email", "password": "long enough"})
    assert (code(bad_email), fields(bad_email)) == ("BAD_USER_INPUT", ["email"])
    short = await client.error(SIGN_UP, {"email": unique_email(), "password": "short"})
    assert (code(short), fields(short)) == ("BAD_USER_INPUT", ["password"])
    wrong = await client.error(SIGN_IN, {"email": email, "password": "wrong password"})
    nobody = await client.error(SIGN_IN, {"email": unique_email(), "password": "correct horse"})
    assert code(wrong) == code(nobody) == "UNAUTHENTICATED"
    assert wrong["message"] == nobody["message"]


# --- tickets ---


async def test_create_read_and_update_a_ticket(clients: Clients) -> None:
    seller = clients()
    signed = await seller.sign_up()
    ticket = await seller.create_ticket("  Jazz night ", 1_999)
    assert ticket == {
        "id": ticket["id"],
        "title": "Jazz night",
        "priceCents": 1_999,
        "sellerId": signed["user"]["id"],
        "status": "AVAILABLE",
        "version": 0,
        "orderId": None,
    }
    assert (await clients().data(TICKET, {"id": ticket["id"]}))["ticket"] == ticket  # anyone may read it

    updated = (await seller.data(UPDATE_TICKET, {"id": ticket["id"], "title": "Jazz", "price": 2_500}))["updateTicket"]
    assert (updated["title"], updated["priceCents"], updated["version"]) == ("Jazz", 2_500, 1)


async def test_ticket_failures(clients: Clients) -> None:
    seller, stranger, anonymous = clients(), clients(), clients()
    await seller.sign_up()
    await stranger.sign_up()
    ticket = await seller.create_ticket()

    anonymous_create = await anonymous.error('mutation { createTicket(title: "Gig", priceCents: 500) { id } }')
    assert code(anonymous_create) == "UNAUTHENTICATED"
    cheap = await seller.error('mutation { createTicket(title: "Gig", priceCents: 10) { id } }')
    assert (code(cheap), fields(cheap)) == ("BAD_USER_INPUT", ["priceCents"])
    untitled = await seller.error('mutation { createTicket(title: "   ", priceCents: 500) { id } }')
    assert (code(untitled), fields(untitled)) == ("BAD_USER_INPUT", ["title"])

    not_mine = await stranger.error(UPDATE_TICKET, {"id": ticket["id"], "title": "Mine", "price": 600})
    assert code(not_mine) == "FORBIDDEN"
    unknown = await seller.error(UPDATE_TICKET, {"id": UNKNOWN_ID, "title": "X", "price": 600})
    assert code(unknown) == "NOT_FOUND"
    empty = await seller.error(UPDATE_TICKET, {"id": "", "title": "X", "price": 600})
    assert (code(empty), fields(empty)) == ("BAD_USER_INPUT", ["id"])

    assert (await anonymous.data(TICKET, {"id": UNKNOWN_ID}))["ticket"] is None
    blank = await anonymous.error(TICKET, {"id": " "})
    assert (code(blank), fields(blank)) == ("BAD_USER_INPUT", ["id"])


async def test_a_reserved_ticket_cannot_be_updated_or_ordered(clients: Clients) -> None:
    seller, buyer, late = clients(), clients(), clients()
    for client in (seller, buyer, late):
        await client.sign_up()
    ticket = await seller.create_ticket()
    await buyer.create_order(ticket["id"])
    await wait_status(seller, ticket["id"], "RESERVED")

    update = await seller.error(UPDATE_TICKET, {"id": ticket["id"], "title": "New", "price": 900})
    assert code(update) == "CONFLICT"
    second = await late.error(CREATE_ORDER, {"ticketId": ticket["id"]})
    assert code(second) == "CONFLICT"


async def test_the_listing_pages_through_available_tickets_newest_first(clients: Clients) -> None:
    seller = clients()
    await seller.sign_up()
    made = [await seller.create_ticket(f"Show {n}") for n in range(3)]
    newest_first = [t["id"] for t in reversed(made)]

    first_page = (await clients().data(TICKETS, {"first": 2}))["tickets"]
    assert [e["node"]["id"] for e in first_page["edges"]] == newest_first[:2]
    assert first_page["pageInfo"] == {"hasNextPage": True, "endCursor": first_page["edges"][-1]["cursor"]}
    after = first_page["pageInfo"]["endCursor"]
    second_page = (await clients().data(TICKETS, {"first": 1, "after": after}))["tickets"]
    assert [e["node"]["id"] for e in second_page["edges"]] == newest_first[2:]

    default = (await clients().data("{ tickets { edges { node { id status } } } }"))["tickets"]["edges"]
    assert 3 <= len(default) <= 20
    assert {e["node"]["status"] for e in default} == {"AVAILABLE"}

    for bad in (0, 101, -1):
        error = await clients().error(TICKETS, {"first": bad})
        assert (code(error), fields(error)) == ("BAD_USER_INPUT", ["first"])
    garbage = await clients().error(TICKETS, {"first": 2, "after": "not-a-cursor"})  # refused by tickets_svc
    assert (code(garbage), fields(garbage)) == ("BAD_USER_INPUT", ["after"])


# --- orders ---


async def test_order_reads_are_for_the_buyer(clients: Clients) -> None:
    seller, buyer, stranger = clients(), clients(), clients()
    for client in (seller, buyer, stranger):
        await client.sign_up()
    ticket = await seller.create_ticket("Play", 1_234)
    order = await buyer.create_order(ticket["id"])
    assert (order["status"], order["priceCents"], order["version"]) == ("CREATED", 1_234, 0)
    assert order["ticket"]["id"] == ticket["id"]
    assert order["expiresAt"].endswith("+00:00")

    assert (await buyer.data(ORDER, {"id": order["id"]}))["order"]["id"] == order["id"]
    assert [o["id"] for o in (await buyer.data(MY_ORDERS))["myOrders"]] == [order["id"]]
    assert (await stranger.data(MY_ORDERS))["myOrders"] == []
    assert code(await stranger.error(ORDER, {"id": order["id"]})) == "FORBIDDEN"
    assert (await buyer.data(ORDER, {"id": UNKNOWN_ID}))["order"] is None
    assert code(await clients().error(MY_ORDERS)) == "UNAUTHENTICATED"
    assert code(await clients().error(ORDER, {"id": order["id"]})) == "UNAUTHENTICATED"


async def test_order_failures(clients: Clients) -> None:
    seller = clients()
    await seller.sign_up()
    ticket = await seller.create_ticket()
    assert code(await seller.error(CREATE_ORDER, {"ticketId": UNKNOWN_ID})) == "NOT_FOUND"
    empty = await seller.error(CREATE_ORDER, {"ticketId": ""})
    assert (code(empty), fields(empty)) == ("BAD_USER_INPUT", ["ticketId"])
    assert code(await clients().error(CREATE_ORDER, {"ticketId": ticket["id"]})) == "UNAUTHENTICATED"

    async def own_ticket_refused() -> bool:  # CONFLICT once the orders service knows the ticket
        error = await seller.error(CREATE_ORDER, {"ticketId": ticket["id"]})
        assert code(error) in ("NOT_FOUND", "CONFLICT"), error
        return code(error) == "CONFLICT"

    await eventually(own_ticket_refused, "buying one's own ticket to be refused")


async def test_cancel_frees_the_ticket_and_is_idempotent(clients: Clients) -> None:
    seller, buyer, stranger = clients(), clients(), clients()
    for client in (seller, buyer, stranger):
        await client.sign_up()
    ticket = await seller.create_ticket()
    order = await buyer.create_order(ticket["id"])
    await wait_status(seller, ticket["id"], "RESERVED")

    assert code(await stranger.error(CANCEL_ORDER, {"id": order["id"]})) == "FORBIDDEN"
    cancelled = (await buyer.data(CANCEL_ORDER, {"id": order["id"]}))["cancelOrder"]
    assert (cancelled["status"], cancelled["version"]) == ("CANCELLED", 1)
    again = (await buyer.data(CANCEL_ORDER, {"id": order["id"]}))["cancelOrder"]
    assert (again["status"], again["version"]) == ("CANCELLED", 1)
    await wait_status(seller, ticket["id"], "AVAILABLE")
    assert code(await buyer.error(CANCEL_ORDER, {"id": UNKNOWN_ID})) == "NOT_FOUND"


# --- payments ---


async def test_pay_completes_the_order_and_sells_the_ticket(clients: Clients) -> None:
    seller, buyer, stranger = clients(), clients(), clients()
    for client in (seller, buyer, stranger):
        await client.sign_up()
    ticket = await seller.create_ticket("Final", 7_777)
    order = await buyer.create_order(ticket["id"])

    assert code(await stranger.error(PAY_ORDER, {"orderId": order["id"], "pm": "pm_card_visa"})) == "FORBIDDEN"
    payment = (await buyer.data(PAY_ORDER, {"orderId": order["id"], "pm": "pm_card_visa"}))["payOrder"]
    assert (payment["orderId"], payment["amountCents"]) == (order["id"], 7_777)
    assert payment["stripeId"].startswith("pi_")

    async def complete() -> bool:
        return bool((await buyer.data(ORDER, {"id": order["id"]}))["order"]["status"] == "COMPLETE")

    await eventually(complete, "the order to complete")
    await wait_status(seller, ticket["id"], "SOLD")
    twice = await buyer.error(PAY_ORDER, {"orderId": order["id"], "pm": "pm_card_visa"})
    assert code(twice) == "CONFLICT"
    assert code(await buyer.error(CANCEL_ORDER, {"id": order["id"]})) == "CONFLICT"


async def test_payment_failures(stack: Stack, clients: Clients) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket()
    order = await buyer.create_order(ticket["id"])
    stripe_api = stack.services["payments"].stripe.client  # as Stripe.js would: a card the emulator declines
    declining = await stripe_api.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )

    declined = await buyer.error(PAY_ORDER, {"orderId": order["id"], "pm": declining.id})
    assert code(declined) == "PAYMENT_FAILED"
    assert (await buyer.data(ORDER, {"id": order["id"]}))["order"]["status"] == "CREATED"  # still payable
    assert code(await buyer.error(PAY_ORDER, {"orderId": UNKNOWN_ID, "pm": "pm_card_visa"})) == "NOT_FOUND"
    blank = await buyer.error(PAY_ORDER, {"orderId": order["id"], "pm": " "})
    assert (code(blank), fields(blank)) == ("BAD_USER_INPUT", ["paymentMethod"])
    no_order = await buyer.error(PAY_ORDER, {"orderId": "", "pm": "pm_card_visa"})
    assert (code(no_order), fields(no_order)) == ("BAD_USER_INPUT", ["orderId"])
    anonymous = await clients().error(PAY_ORDER, {"orderId": order["id"], "pm": "pm_card_visa"})
    assert code(anonymous) == "UNAUTHENTICATED"

    paid = (await buyer.data(PAY_ORDER, {"orderId": order["id"], "pm": "pm_card_visa"}))["payOrder"]
    assert paid["amountCents"] == 2_500


async def test_a_card_needing_3d_secure_answers_payment_action_required_with_the_client_secret(
    stack: Stack, clients: Clients
) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket()
    order = await buyer.create_order(ticket["id"])
    variables = {"orderId": order["id"], "pm": "pm_card_authenticationRequired"}

    needs = await buyer.error(PAY_ORDER, variables)

    assert code(needs) == "PAYMENT_ACTION_REQUIRED"
    secret = needs["extensions"]["clientSecret"]
    assert isinstance(secret, str) and secret.startswith("pi_") and "_secret_" in secret
    assert (await buyer.data(ORDER, {"id": order["id"]}))["order"]["status"] == "CREATED"
    # The buyer gives up the challenge and pays with another card: that one is charged.
    paid = (await buyer.data(PAY_ORDER, {"orderId": order["id"], "pm": "pm_card_visa"}))["payOrder"]
    assert paid["amountCents"] == 2_500


async def test_an_unreachable_service_is_a_masked_internal_error(
    clients: Clients, start_gateway: Any, stack: Stack
) -> None:
    broken = await start_gateway(payments_grpc_target=f"127.0.0.1:{free_port()}", grpc_timeout_seconds=2)
    client = clients()
    client.url = f"{broken.url}/graphql"
    await client.sign_up()
    response = await client.post(PAY_ORDER, {"orderId": UNKNOWN_ID, "pm": "pm_card_visa"})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": "internal error",
            "locations": [{"line": 1, "column": 41}],
            "path": ["payOrder"],
            "extensions": {"code": "INTERNAL"},
        }
    ]
    assert "UNAVAILABLE" not in response.text and "Traceback" not in response.text
