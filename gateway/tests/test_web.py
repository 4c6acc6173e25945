"""What the gateway serves besides GraphQL: the built web client (SPA fallback, cache headers) and GraphiQL from the
same build, its run-time settings (/client-config.json), and in production the security headers of every response
and no developer tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from gateway.web import content_security_policy, graphiql_security_policy

INDEX = "<!doctype html><title>ticket-store</title><script type=module src=/assets/index-3f9a1c.js></script>"
GRAPHIQL = "<!doctype html><title>GraphiQL</title><script type=module src=/assets/graphiql-5e6f7a.js></script>"
ASSET = "console.log('the client')"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends for a page
CLIENT_PATHS = ("/signup", "/signin", "/tickets/new", "/tickets/6b0000000000000000000000", "/orders", "/orders/abc")
SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A built client as Vite lays it out: index.html, hashed files under assets/, public files at the root."""
    built = tmp_path / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text(INDEX)
    (built / "graphiql.html").write_text(GRAPHIQL)
    (built / "assets" / "index-3f9a1c.js").write_text(ASSET)
    (built / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for clients")
    return built


async def test_the_built_client_is_served_with_spa_fallback(dist: Path, start_gateway: Any) -> None:
    gateway = await start_gateway(web_dist_dir=dist)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for path in ("/", *CLIENT_PATHS):
            page = await http.get(path, headers=HTML)
            assert (page.status_code, page.text) == (200, INDEX), path
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache", path
        root = await http.get("/")  # `/` is the client whatever the client accepts
        assert (root.status_code, root.text) == (200, INDEX)

        asset = await http.get("/assets/index-3f9a1c.js")
        assert (asset.status_code, asset.text) == (200, ASSET)
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = await http.get("/assets/index-3f9a1c.js", headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
        icon = await http.get("/favicon.svg")
        assert (icon.status_code, icon.headers["cache-control"]) == (200, "no-cache")

        # Never the client for the API's paths, missing assets, or requests that do not ask for a page.
        assert (await http.get("/assets/index-000000.js", headers=HTML)).status_code == 404
        assert (await http.get("/graphql/nope", headers=HTML)).status_code == 404
        assert (await http.get("/tickets/abc", headers={"Accept": "application/json"})).status_code == 404
        # GraphiQL: the build's own page, at /graphql only (where GRAPHIQL_ENABLED decides).
        for path in ("/graphql", "/graphql/"):
            graphiql = await http.get(path, headers=HTML)
            assert (graphiql.status_code, graphiql.text) == (200, GRAPHIQL), path
            assert graphiql.headers["content-type"].startswith("text/html")
            assert graphiql.headers["cache-control"] == "no-cache"
        assert (await http.get("/graphiql.html", headers=HTML)).status_code == 404
        assert (await http.get("/healthz", headers=HTML)).json() == {"status": "ok"}
        assert (await http.get("/client-config.json", headers=HTML)).json()["stripeTestMode"] is True
        answer = await http.post("/graphql", json={"query": "{ me { id } }"}, headers=HTML)
        assert answer.json() == {"data": {"me": None}}
        assert (await http.post("/signup", headers=HTML)).status_code == 405  # a page, not an endpoint
        for escape in ("/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
            assert "not for clients" not in (await http.get(escape, headers=HTML)).text, escape


async def test_without_a_built_client_the_root_says_how_to_build_it(tmp_path: Path, start_gateway: Any) -> None:
    gateway = await start_gateway(web_dist_dir=tmp_path / "not-built")
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for path, headers in (("/", {}), ("/", HTML), ("/tickets/new", HTML)):
            page = await http.get(path, headers=headers)
            assert page.status_code == 404, path
            assert page.headers["content-type"].startswith("text/plain")
            assert "not built" in page.text and "make web" in page.text
        assert (await http.get("/assets/index-3f9a1c.js")).status_code == 404
        assert (await http.post("/graphql", json={"query": "{ me { id } }"})).json() == {"data": {"me": None}}
        graphiql = await http.get("/graphql", headers=HTML)  # never Strawberry's page, which loads from a CDN
        assert (graphiql.status_code, graphiql.headers["content-type"].split(";")[0]) == (404, "text/plain")
        assert "GraphiQL is not built" in graphiql.text and "make web" in graphiql.text

    (tmp_path / "not-built").mkdir()  # built while the gateway runs: served without a restart
    (tmp_path / "not-built" / "index.html").write_text(INDEX)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        assert (await http.get("/orders", headers=HTML)).text == INDEX


async def test_client_config_has_what_the_client_needs_and_no_secret(
    http: httpx.AsyncClient, start_gateway: Any
) -> None:
    response = await http.get("/client-config.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-cache"
    assert response.json() == {
        "stripeJsUrl": "https://js.stripe.com/v3/",
        "stripePublishableKey": "pk_test_local_emulator",
        "stripeTestMode": True,
    }

    emulator = "http://127.0.0.1:12111/js.stripe.com/v3/"
    live = await start_gateway(stripe_js_url=emulator, stripe_publishable_key="pk_live_51abc")
    async with httpx.AsyncClient(base_url=live.url) as client:
        config = (await client.get("/client-config.json")).json()
    assert config == {"stripeJsUrl": emulator, "stripePublishableKey": "pk_live_51abc", "stripeTestMode": False}


def test_the_publishable_key_is_required_in_prod_and_never_a_secret_key() -> None:
    with pytest.raises(ValidationError, match="STRIPE_PUBLISHABLE_KEY is required"):
        GatewaySettings(environment="prod")
    for secret in ("sk_test_123", "rk_live_123", "whatever"):
        with pytest.raises(ValidationError, match="must be a publishable key"):
            GatewaySettings(stripe_publishable_key=secret)
    assert GatewaySettings(environment="dev").stripe_publishable_key == "pk_test_local_emulator"


def test_the_content_security_policy_allows_stripe_js_and_nothing_else() -> None:
    assert content_security_policy("https://js.stripe.com/v3/") == (
        "default-src 'self'; script-src 'self' https://js.stripe.com; "
        "frame-src https://js.stripe.com https://hooks.stripe.com; connect-src 'self' https://api.stripe.com; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    )
    emulator = content_security_policy("http://127.0.0.1:12111/js.stripe.com/v3/")
    assert "script-src 'self' http://127.0.0.1:12111;" in emulator
    assert "frame-src http://127.0.0.1:12111;" in emulator
    assert "connect-src 'self' http://127.0.0.1:12111;" in emulator
    # GraphiQL's page: the same, plus inline styles and data: images (never scripts).
    graphiql = graphiql_security_policy("https://js.stripe.com/v3/")
    extra = "; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
    assert graphiql == content_security_policy("https://js.stripe.com/v3/") + extra


async def test_production_sends_security_headers_and_hides_developer_tools(
    dist: Path, start_gateway: Any, http: httpx.AsyncClient
) -> None:
    prod = await start_gateway(environment="prod", stripe_publishable_key="pk_live_51abc", web_dist_dir=dist)
    introspection = "{ __schema { queryType { name } } }"
    async with httpx.AsyncClient(base_url=prod.url) as client:
        responses = [
            await client.get("/", headers=HTML),
            await client.get("/tickets/new", headers=HTML),
            await client.get("/assets/index-3f9a1c.js"),
            await client.get("/nope"),
            await client.get("/healthz"),
            await client.get("/readyz"),
            await client.get("/client-config.json"),
            await client.post("/graphql", json={"query": "{ me { id } }"}),
            await client.post("/graphql", content="{not json", headers={"Content-Type": "application/json"}),
            await client.post("/graphql", json={"query": "{ me { id } }", "variables": {"x": "y" * 70_000}}),
            await client.get("/graphql", headers=HTML),
        ]
        for response in responses:
            found = {name: response.headers.get(name) for name in SECURITY_HEADERS}
            assert found == {
                "content-security-policy": content_security_policy("https://js.stripe.com/v3/"),
                "x-frame-options": "DENY",
                "x-content-type-options": "nosniff",
                "referrer-policy": "same-origin",
            }, (response.request.url, response.status_code)
        assert [r.status_code for r in responses[-3:]] == [400, 413, 404]  # GraphiQL is off

        refused = (await client.post("/graphql", json={"query": introspection})).json()
        assert "introspection" in refused["errors"][0]["message"].lower() and not refused.get("data")

    tools = await start_gateway(
        environment="prod",
        stripe_publishable_key="pk_live_51abc",
        graphiql_enabled=True,
        introspection_enabled=True,
        web_dist_dir=dist,
    )
    async with httpx.AsyncClient(base_url=tools.url) as client:
        graphiql = await client.get("/graphql", headers=HTML)
        assert (graphiql.status_code, graphiql.text) == (200, GRAPHIQL)
        # GraphiQL's page alone may use inline styles and data: images (its editor); everything else keeps the policy.
        stripe = "https://js.stripe.com/v3/"
        assert graphiql.headers.get_list("content-security-policy") == [graphiql_security_policy(stripe)]
        assert (await client.get("/", headers=HTML)).headers["content-security-policy"] == content_security_policy(
            stripe
        )
        api = await client.post("/graphql", json={"query": "{ me { id } }"}, headers=HTML)
        assert api.headers["content-security-policy"] == content_security_policy(stripe)
        allowed = (await client.post("/graphql", json={"query": introspection})).json()
        assert allowed == {"data": {"__schema": {"queryType": {"name": "Query"}}}}

    outside_prod = await http.get("/healthz")  # the suite's gateway runs as ENVIRONMENT=test
    assert not any(name in outside_prod.headers for name in SECURITY_HEADERS)
    assert (await http.post("/graphql", json={"query": introspection})).json()["data"]["__schema"]
