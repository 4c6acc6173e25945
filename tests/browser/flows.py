"""What a person does in the web client, step by step, by accessible names only (SPEC.md "The web client")."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import Page, expect

ORDER_PATH = re.compile(r"/orders/[0-9a-f]{24}$")
TICKET_PATH = re.compile(r"/tickets/[0-9a-f]{24}$")

DECLINED = "pm_card_chargeCustomerFail"
SUCCEEDS = "pm_card_visa"
NEEDS_3DS = "pm_card_authenticationRequired"


async def list_ticket(seller: Page, title: str, dollars: str) -> str:
    """Lists a ticket through "Sell a ticket"; returns the ticket page's path (the seller is left on it)."""
    await seller.get_by_role("link", name="Sell a ticket", exact=True).click()
    await seller.get_by_label("Title").fill(title)
    await seller.get_by_label("Price").fill(dollars)
    await seller.get_by_role("button", name="List ticket").click()
    await expect(seller).to_have_url(TICKET_PATH)
    await expect(seller.get_by_role("heading", level=1)).to_have_text(title)
    return urlsplit(seller.url).path


async def buy(buyer: Page, title: str) -> str:
    """Finds the ticket on the list of tickets for sale and buys it; returns the order page's path."""
    await buyer.get_by_role("link", name="Tickets", exact=True).click()
    await buyer.get_by_role("link", name=title, exact=True).click()
    await expect(buyer.get_by_role("status")).to_have_text("Available")
    await buyer.get_by_role("button", name="Buy").click()
    await expect(buyer).to_have_url(ORDER_PATH)
    await expect(buyer.get_by_role("status")).to_have_text("Created")
    return urlsplit(buyer.url).path


async def pay_with_test_card(buyer: Page, payment_method: str) -> None:
    await buyer.get_by_label("Test card").select_option(payment_method)
    await buyer.get_by_role("button", name="Pay").click()


async def pay_with_card_details(buyer: Page, number: str) -> None:
    """Types the card into Stripe's card element (in development the emulator's: plain inputs by placeholder)."""
    await buyer.get_by_label("Test card").select_option("")
    card = buyer.get_by_role("group", name="Card")
    await card.get_by_placeholder("number").fill(number)
    await card.get_by_placeholder("exp_month").fill("12")
    await card.get_by_placeholder("exp_year").fill("34")
    await card.get_by_placeholder("cvc").fill("123")
    await card.get_by_placeholder("postal_code").fill("10001")
    await buyer.get_by_role("button", name="Pay").click()


async def mark_page(page: Page) -> None:
    """Leaves a mark in the page's JavaScript state, which a reload or a full navigation would erase."""
    await page.evaluate("window.__sameDocument = true")


async def expect_same_document(page: Page) -> None:
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
