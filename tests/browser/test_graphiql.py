"""GraphiQL at GET /graphql, from the web client's build: the README tour's kind of session (sign up, list a ticket,
query, subscribe) in Chromium, with every request the page makes recorded: all of them go to the gateway's own
origin (no CDN, no fonts from elsewhere). Run against the stack's gateway, and against a production gateway with
GraphiQL enabled (its content security policy: a violation is a console error, which fails the test)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Page, WebSocket, expect

from common.devstack import Stack
from gateway.app import GatewayApp
from gateway.settings import GatewaySettings
from tests.browser.conftest import PASSWORD, WEB_DIST, Users, web_url

pytestmark = pytest.mark.e2e
TICKETS = "{ tickets(first: 1) { edges { node { id } } } }"
OBJECT_ID = re.compile(r'"id":\s*"([0-9a-f]{24})"')


@pytest_asyncio.fixture(params=["dev", "prod"])
async def gateway(request: pytest.FixtureRequest, live_stack: Stack) -> AsyncIterator[str]:
    """The base address of a gateway serving GraphiQL: the stack's own (dev), or one as production runs it
    (security headers, __Host- cookie) with GraphiQL explicitly enabled, on the stack's services."""
    if request.param == "dev":
        yield web_url(live_stack)
        return
    env = live_stack.service_env()
    targets = {
        f"{name}_grpc_target": env[f"{name.upper()}_GRPC_TARGET"] for name in ("auth", "tickets", "orders", "payments")
    }
    settings = GatewaySettings.model_validate({
        "environment": "prod",
        "gateway_port": 0,
        "graphiql_enabled": True,
        "introspection_enabled": True,  # GraphiQL reads the schema: enabled with it, as a team enabling it would
        "stripe_publishable_key": "pk_test_prod_like",
        "stripe_js_url": env["STRIPE_JS_URL"],
        "nats_url": live_stack.server("nats").url_as("gateway"),  # prod needs the password: in the address
        "redis_url": env["REDIS_URL"],
        "jwt_public_key_file": env["JWT_PUBLIC_KEY_FILE"],
        "web_dist_dir": WEB_DIST,
        **targets,
    })  # fmt: skip
    prod = GatewayApp(settings)
    await prod.start()
    try:
        yield prod.url
    finally:
        await prod.stop()


class Traffic:
    """Every request of the page's context (pages and workers) and every websocket the page opens."""

    def __init__(self, page: Page) -> None:
        self.requests: list[str] = []
        self.websockets: list[str] = []
        page.context.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", self._websocket)

    def _websocket(self, socket: WebSocket) -> None:
        self.websockets.append(socket.url)

    def elsewhere(self, origin: str) -> list[str]:
        """What went anywhere but `origin` (http) and its websocket twin (ws)."""
        host = urlsplit(origin).netloc
        own = {f"http://{host}", f"ws://{host}"}
        return [
            url
            for url in [*self.requests, *self.websockets]
            if f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" not in own
        ]


async def write(page: Page, document: str) -> None:
    """Replaces the operation in GraphiQL's editor."""
    await page.locator(".graphiql-query-editor .monaco-editor").first.click()
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.press("Delete")
    await page.keyboard.insert_text(document)  # as a paste: no auto-closed brackets
    # GraphiQL reads the operation's type (query, or subscription: websocket) 100 ms after the last edit.
    await page.wait_for_timeout(400)


async def run(page: Page, document: str) -> str:
    """Writes the operation, runs it, and returns the response panel's text once it has one."""
    await write(page, document)
    response = page.locator(".graphiql-response")
    before = await response.inner_text()
    await page.get_by_role("button", name=re.compile("Execute query")).click()
    await expect(response).not_to_have_text(before)
    await expect(response).to_contain_text("{")
    return (await response.inner_text()).replace("\u00a0", " ")


async def test_graphiql_runs_the_tour_from_our_own_origin_only(gateway: str, users: Users) -> None:
    page = await users.page()
    traffic = Traffic(page)
    opened = await page.goto(f"{gateway}/graphql")
    assert opened is not None and opened.ok, opened
    await expect(page).to_have_title(re.compile("GraphiQL"))
    await page.get_by_role("button", name=re.compile("GraphiQL Explorer")).click()  # the explorer plugin
    await expect(page.locator(".graphiql-plugin")).to_contain_text("tickets")  # built from the schema
    await write(page, "{ noSuchField }")  # validated against the schema: an error squiggle (a data: image)
    await expect(page.locator(".graphiql-query-editor .squiggly-error").first).to_be_attached()

    email = f"graphiql-{uuid.uuid4().hex[:8]}@example.com"
    signed_up = await run(
        page, f'mutation {{ signUp(email: "{email}", password: "{PASSWORD}") {{ user {{ email }} }} }}'
    )
    assert email in signed_up, signed_up
    listed = await run(page, 'mutation { createTicket(title: "GraphiQL night", priceCents: 1500) { id } }')  # cookie
    ticket = OBJECT_ID.search(listed)
    assert ticket, listed
    newest = await run(page, TICKETS)
    assert '"edges"' in newest and ticket.group(1) in newest, newest

    live = await run(page, f'subscription {{ ticketStatus(ticketId: "{ticket.group(1)}") {{ ticketId status }} }}')
    assert '"AVAILABLE"' in live, live

    assert traffic.websockets, "the subscription opened no websocket"
    assert traffic.elsewhere(gateway) == []
    assert any("/assets/" in url for url in traffic.requests)  # the build's own files
