"""Expiry in the browser, on a stack of its own with a short payment window (time the test controls)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from common.devstack import Stack
from tests.browser.conftest import Users, open_users
from tests.browser.flows import buy, list_ticket
from tests.helpers import start_stack

pytestmark = pytest.mark.e2e

WINDOW_SECONDS = 8


@pytest.fixture(scope="module")
def short_window_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("short-window"), WINDOW_SECONDS)
    try:
        yield stack
    finally:
        stack.stop()


@pytest_asyncio.fixture
async def short_window_users(browser: Browser, short_window_stack: Stack, tmp_path: Path) -> AsyncIterator[Users]:
    await short_window_stack.wait_healthy(timeout=90)
    async for opened in open_users(browser, short_window_stack, tmp_path):
        yield opened


async def test_an_unpaid_order_expires_and_the_ticket_is_back_on_sale(short_window_users: Users) -> None:
    users = short_window_users
    seller = await users.signed_up("seller")
    title = "Circus"
    await list_ticket(seller, title, "9.99")
    buyer = await users.signed_up("buyer")
    await buy(buyer, title)
    await expect(buyer.get_by_text("Time left to pay")).to_be_visible()
    await expect(seller.get_by_role("status")).to_have_text("Reserved")

    await expect(buyer.get_by_role("status")).to_have_text("Cancelled", timeout=WINDOW_SECONDS * 1000 + 20_000)
    await expect(buyer.get_by_role("button", name="Pay")).to_have_count(0)
    await expect(seller.get_by_role("status")).to_have_text("Available")

    await buyer.get_by_role("link", name="Tickets", exact=True).click()
    await expect(buyer.get_by_role("link", name=title, exact=True)).to_be_visible()
