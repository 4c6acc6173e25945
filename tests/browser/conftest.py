"""Browser tests: Debian's Chromium driven by Playwright, against the whole stack, the gateway serving web/dist.

`make web` builds the client first (`make test` does). Each user is a browser context of its own (own cookies);
every page records console errors and uncaught exceptions, and a test fails if any page had one.
Screenshots go to the test's temporary folder; with SAVE_SCREENSHOTS=1 also to docs/screenshots/ (committed).
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect

from common.devstack import Stack
from tests.helpers import gateway_url

ROOT = Path(__file__).resolve().parents[2]
WEB_DIST = ROOT / "web" / "dist"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
PHONE = ViewportSize(width=390, height=844)
PASSWORD = "correct horse battery"

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


def web_url(stack: Stack) -> str:
    """The gateway's address, after checking that it serves the built client at `/`."""
    if not (WEB_DIST / "index.html").exists():
        pytest.fail(f"{WEB_DIST}/index.html is missing: run `make web` first")
    url = gateway_url(stack)
    with urllib.request.urlopen(f"{url}/", timeout=10) as reply:
        assert b'<div id="root">' in reply.read(), "the gateway does not serve web/dist at /"
    return url


@dataclass
class Users:
    """Opens one browser context per user, each page watched for console errors."""

    browser: Browser
    base_url: str
    screenshot_dir: Path
    problems: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def page(self, *, phone: bool = False) -> Page:
        context = await self.browser.new_context(base_url=self.base_url, viewport=PHONE if phone else None)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("console", lambda message: self._console(page, message.type, message.text))
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: uncaught {error}"))
        return page

    def _console(self, page: Page, kind: str, text: str) -> None:
        if kind == "error":
            self.problems.append(f"{page.url}: console error: {text}")

    async def signed_up(self, name: str, *, phone: bool = False) -> Page:
        """A page of a new user, signed up through the sign-up page, on the ticket list."""
        page = await self.page(phone=phone)
        await page.goto("/signup")
        await page.get_by_label("Email").fill(f"{name}-{uuid.uuid4().hex[:6]}@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign up").click()
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        return page

    async def screenshot(self, page: Page, name: str) -> None:
        path = self.screenshot_dir / f"{name}.png"
        await page.screenshot(path=path, full_page=True)
        if os.environ.get("SAVE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            (SCREENSHOTS / path.name).write_bytes(path.read_bytes())

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


async def open_users(browser: Browser, stack: Stack, screenshot_dir: Path) -> AsyncIterator[Users]:
    users = Users(browser, web_url(stack), screenshot_dir)
    try:
        yield users
    finally:
        await users.close()
    assert users.problems == [], "\n".join(users.problems)


@pytest_asyncio.fixture
async def users(browser: Browser, live_stack: Stack, tmp_path: Path) -> AsyncIterator[Users]:
    async for opened in open_users(browser, live_stack, tmp_path):
        yield opened
