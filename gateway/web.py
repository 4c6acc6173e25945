"""What the gateway serves besides GraphQL: the built web client (and GraphiQL, a page of the same build), its
run-time settings, and (in production) the security headers of every response."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.settings import GatewaySettings

IMMUTABLE = "public, max-age=31536000, immutable"  # hashed file names: a new build has new names
NO_CACHE = "no-cache"  # index.html names the current build's assets: always revalidated
API_PATHS = frozenset({"/healthz", "/readyz", "/client-config.json"})
GRAPHIQL_PAGE = "graphiql.html"  # served at GET /graphql only (gateway.asgi), not at a path of its own
NOT_BUILT = (
    "The web client is not built.\n\n"
    "Build it with `make web` (or run `make dev`, which builds it), then reload this page.\n"
    "The GraphQL API is at /graphql.\n"
)
GRAPHIQL_NOT_BUILT = (
    "GraphiQL is not built.\n\n"
    "It is part of the web client's build: run `make web` (or `make dev`, which builds it), then reload this page.\n"
    "The API itself works without it: POST GraphQL to /graphql.\n"
)


def graphiql_page(dist: Path) -> Response:
    """GET /graphql for a browser: GraphiQL as the web client's build made it (our own assets, no CDN)."""
    page = dist / GRAPHIQL_PAGE
    if not page.is_file():
        return PlainTextResponse(GRAPHIQL_NOT_BUILT, status_code=404, headers={"cache-control": NO_CACHE})
    return FileResponse(page, media_type="text/html", headers={"cache-control": NO_CACHE})


def client_config(settings: GatewaySettings) -> dict[str, object]:
    """GET /client-config.json: what the client needs at run time (nothing secret)."""
    return {
        "stripeJsUrl": settings.stripe_js_url,
        "stripePublishableKey": settings.stripe_publishable_key,
        "stripeTestMode": settings.stripe_test_mode,
    }


def serves_index(scope: Scope) -> bool:
    """`/`, and any GET for a page (Accept: text/html) that is not the API's or an asset: the client's own paths."""
    path: str = scope["path"]
    if path == "/":
        return True
    if path in API_PATHS or path.startswith(("/graphql", "/assets")):
        return False
    return "text/html" in Headers(scope=scope).get("accept", "")


class WebClient(StaticFiles):
    """The built client (WEB_DIST_DIR): hashed files under /assets/ cached for a year, other files and index.html
    revalidated; index.html for the client's paths (SPA fallback), never for /graphql."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.index = directory / "index.html"

    async def check_config(self) -> None:
        """Nothing to check: a client built, rebuilt or removed while the gateway runs is served as it is now."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path == GRAPHIQL_PAGE:  # one address for GraphiQL, where GRAPHIQL_ENABLED is checked
            raise HTTPException(404)
        try:
            response = await super().get_response(path, scope)
        except HTTPException as error:
            if error.status_code != 404 or not serves_index(scope):
                raise
            if not self.index.is_file():
                return PlainTextResponse(NOT_BUILT, status_code=404, headers={"cache-control": NO_CACHE})
            response = await super().get_response("index.html", scope)
        hashed = path.startswith("assets" + os.sep) and response.status_code in (200, 304)
        response.headers["cache-control"] = IMMUTABLE if hashed else NO_CACHE
        return response


def is_graphiql_page(scope: Scope, response_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """An HTML answer at /graphql is GraphiQL (the API answers JSON there, errors in plain text)."""
    if scope["path"] not in ("/graphql", "/graphql/"):
        return False
    return any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in response_headers)


def content_security_policy(stripe_js_url: str) -> str:
    """Our own origin, plus Stripe.js: its script, its frames (card fields, 3-D Secure) and its API."""
    parts = urlsplit(stripe_js_url)
    stripe = f"{parts.scheme}://{parts.netloc}"
    if parts.hostname == "js.stripe.com":
        frames, api = f"{stripe} https://hooks.stripe.com", "https://api.stripe.com"
    else:  # a stand-in such as the emulator serves script, frames and API from its one origin
        frames, api = stripe, stripe
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {stripe}",
            f"frame-src {frames}",
            f"connect-src 'self' {api}",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
        ]
    )


def graphiql_security_policy(stripe_js_url: str) -> str:
    """The policy of the GraphiQL page alone: the strict one, plus what its editor (Monaco) does at run time. It
    positions every line with a `style` attribute in the HTML it writes and adds <style> elements (icons, token
    colours) it cannot give a nonce: inline styles; it draws error squiggles as generated `data:` SVG images.
    Scripts stay our own origin's; every other response keeps the strict policy."""
    return f"{content_security_policy(stripe_js_url)}; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


class SecurityHeaders:
    """Adds the production security headers to every HTTP response (it wraps the whole app, error pages too)."""

    def __init__(self, app: ASGIApp, stripe_js_url: str) -> None:
        self.app = app
        self.policy = content_security_policy(stripe_js_url).encode("latin-1")
        self.graphiql_policy = graphiql_security_policy(stripe_js_url).encode("latin-1")
        self.headers = [
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                policy = self.graphiql_policy if is_graphiql_page(scope, headers) else self.policy
                message = {**message, "headers": [*headers, (b"content-security-policy", policy), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
