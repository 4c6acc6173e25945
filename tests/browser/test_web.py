"""The web client in a real browser against the whole stack: live status, payments, cancel, sign-in errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.async_api import Page, WebSocket, expect

from tests.browser.conftest import Users
from tests.browser.flows import (
    DECLINED,
    NEEDS_3DS,
    SUCCEEDS,
    buy,
    expect_same_document,
    list_ticket,
    mark_page,
    pay_with_card_details,
    pay_with_test_card,
)

pytestmark = pytest.mark.e2e


def record_graphql(page: Page) -> list[dict[str, Any]]:
    """Every GraphQL request the page sends: HTTP bodies, and websocket `subscribe` payloads."""
    sent: list[dict[str, Any]] = []

    def on_request(request: Any) -> None:
        if request.url.endswith("/graphql") and request.method == "POST":
            sent.append(json.loads(request.post_data or "{}"))

    def on_websocket(socket: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            message = json.loads(payload)
            if message.get("type") == "subscribe":
                sent.append(message["payload"])

        socket.on("framesent", on_frame)

    page.on("request", on_request)
    page.on("websocket", on_websocket)
    return sent


async def test_the_seller_watches_the_ticket_get_reserved_and_sold_while_a_buyer_pays(users: Users) -> None:
    seller = await users.signed_up("seller")
    title = "Jazz night"
    await list_ticket(seller, title, "25.00")
    await expect(seller.get_by_text("$25.00")).to_be_visible()
    await expect(seller.get_by_role("status")).to_have_text("Available")
    await expect(seller.get_by_role("button", name="Buy")).to_have_count(0)  # nobody buys their own ticket
    await mark_page(seller)

    buyer = await users.signed_up("buyer", phone=True)
    sent = record_graphql(buyer)
    await buy(buyer, title)
    await expect(seller.get_by_role("status")).to_have_text("Reserved")
    await expect(buyer.get_by_text("Time left to pay")).to_be_visible()
    assert await buyer.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than a phone"
    await users.screenshot(buyer, "order-page")
    await users.screenshot(seller, "ticket-page")

    await pay_with_card_details(buyer, "4242424242424242")
    await expect(buyer.get_by_role("status")).to_have_text("Complete")
    await expect(seller.get_by_role("status")).to_have_text("Sold")
    await expect_same_document(seller)

    await buyer.get_by_role("link", name="My orders", exact=True).click()
    await expect(buyer.get_by_role("listitem").filter(has_text=title)).to_contain_text("Complete")

    # Persisted operations: hashes, never document text, over HTTP and over the websocket.
    assert sent, "no GraphQL traffic recorded"
    for payload in sent:
        assert not payload.get("query"), payload
        assert len(payload["extensions"]["persistedQuery"]["sha256Hash"]) == 64, payload
    assert {"OrderStatus", "TicketStatus"} <= {payload.get("operationName") for payload in sent}


async def test_a_declined_card_shows_an_alert_and_the_order_stays_payable_then_sign_out(users: Users) -> None:
    seller = await users.signed_up("seller")
    title = "Opera"
    await list_ticket(seller, title, "40")
    buyer = await users.signed_up("buyer")
    await buy(buyer, title)

    await pay_with_test_card(buyer, DECLINED)
    await expect(buyer.get_by_role("alert")).to_contain_text("declined")
    await expect(buyer.get_by_role("status")).to_have_text("Created")
    await expect(seller.get_by_role("status")).to_have_text("Reserved")

    await pay_with_test_card(buyer, SUCCEEDS)
    await expect(buyer.get_by_role("status")).to_have_text("Complete")
    await expect(buyer.get_by_role("alert")).to_have_count(0)
    await expect(seller.get_by_role("status")).to_have_text("Sold")

    await buyer.get_by_role("button", name="Sign out").click()
    await expect(buyer.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    await buyer.get_by_role("link", name="My orders", exact=True).click()
    await expect(buyer).to_have_url(re.compile(r"/signin$"))  # the session is gone


async def test_cancelling_frees_the_ticket(users: Users) -> None:
    seller = await users.signed_up("seller")
    title = "Theatre"
    await list_ticket(seller, title, "12.50")
    await mark_page(seller)
    buyer = await users.signed_up("buyer")
    await buy(buyer, title)
    await expect(seller.get_by_role("status")).to_have_text("Reserved")

    await buyer.get_by_role("button", name="Cancel order").click()
    await expect(buyer.get_by_role("status")).to_have_text("Cancelled")
    await expect(buyer.get_by_role("button", name="Pay")).to_have_count(0)
    await expect(seller.get_by_role("status")).to_have_text("Available")
    await expect_same_document(seller)

    await buyer.get_by_role("link", name="the ticket", exact=True).click()
    await expect(buyer.get_by_role("status")).to_have_text("Available")
    await expect(buyer.get_by_role("button", name="Buy")).to_be_enabled()


async def test_a_bad_sign_in_shows_an_alert_and_the_form_works_by_keyboard(users: Users) -> None:
    page = await users.page()
    await page.goto("/signin")
    await page.get_by_label("Email").focus()
    await page.keyboard.type("nobody-here@example.com")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Password")).to_be_focused()
    await page.keyboard.type("not the password")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_have_text("Invalid credentials.")
    await expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()  # still signed out


async def test_input_errors_appear_beside_their_fields(users: Users) -> None:
    page = await users.page()
    await page.goto("/signup")
    await page.get_by_label("Email").fill("not-an-email")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Sign up").click()
    email_error = page.get_by_label("Email")
    await expect(email_error).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("alert")).to_have_count(0)

    seller = await users.signed_up("seller")
    await seller.get_by_role("link", name="Sell a ticket", exact=True).click()
    await seller.get_by_label("Title").fill("Anything")
    await seller.get_by_label("Price").fill("12.345")
    await seller.get_by_role("button", name="List ticket").click()
    await expect(seller.get_by_label("Price")).to_have_accessible_description(
        "In US dollars, such as 25.00. Use at most two decimal places (whole cents)."
    )


@pytest.mark.parametrize("path", ["test card", "card details"])
async def test_3d_secure_completes_in_the_browser(users: Users, path: str) -> None:
    seller = await users.signed_up("seller")
    title = f"Ballet ({path})"
    await list_ticket(seller, title, "30.00")
    buyer = await users.signed_up("buyer")
    await buy(buyer, title)

    if path == "test card":
        await pay_with_test_card(buyer, NEEDS_3DS)
    else:
        await pay_with_card_details(buyer, "4000002500003155")
    challenge = buyer.get_by_role("button", name="Complete authentication")  # Stripe.js's 3-D Secure dialog
    refusal = buyer.get_by_role("alert")
    await expect(challenge.or_(refusal)).to_be_visible()
    assert not await refusal.count(), f"no 3-D Secure challenge: {await refusal.inner_text()}"
    await challenge.click()
    await expect(buyer.get_by_role("status")).to_have_text("Complete")
    await expect(seller.get_by_role("status")).to_have_text("Sold")


async def test_a_failed_3d_secure_challenge_shows_an_alert_and_the_order_stays_payable(users: Users) -> None:
    seller = await users.signed_up("seller")
    title = "Recital"
    await list_ticket(seller, title, "15.00")
    buyer = await users.signed_up("buyer")
    await buy(buyer, title)

    await pay_with_test_card(buyer, NEEDS_3DS)
    await buyer.get_by_role("button", name="Fail authentication").click()
    await expect(buyer.get_by_role("alert")).to_contain_text("authenticat")
    await expect(buyer.get_by_role("status")).to_have_text("Created")

    await pay_with_test_card(buyer, SUCCEEDS)
    await expect(buyer.get_by_role("status")).to_have_text("Complete")
