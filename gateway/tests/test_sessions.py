"""Sessions: the httpOnly cookie for web clients, `Authorization: Bearer` for apps; bad tokens are refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

from gateway.tests.helpers import SIGN_IN, SIGN_UP, GraphQLClient, Stack, unique_email

Clients = Callable[[], GraphQLClient]
ME = "{ me { id email } }"
CREATE = 'mutation { createTicket(title: "Gig", priceCents: 500) { id } }'


def set_cookie_attributes(response: httpx.Response) -> dict[str, str]:
    """The attributes of the one Set-Cookie header, lower-case names (flags map to "")."""
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    name_value, *attributes = (part.strip() for part in headers[0].split(";"))
    name, _, value = name_value.partition("=")
    found = {"name": name, "value": value}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        found[key.lower()] = val
    return found


async def test_a_web_session_lives_in_an_httponly_lax_cookie(stack: Stack, clients: Clients) -> None:
    browser = clients()  # no bearer token: only what the cookie jar holds
    email = unique_email()
    response = await browser.post(SIGN_UP, {"email": email, "password": "correct horse"})
    payload = response.json()["data"]["signUp"]
    cookie = set_cookie_attributes(response)
    assert (cookie["name"], cookie["value"]) == (stack.gateway.settings.cookie_name, payload["token"])
    assert {"httponly", "path", "max-age", "samesite"} <= set(cookie)
    assert cookie["samesite"].lower() == "lax" and cookie["path"] == "/"  # attribute values are case-insensitive
    assert "secure" not in cookie  # tests run as ENVIRONMENT=test, on plain-HTTP loopback
    expires_in = dt.datetime.fromisoformat(payload["expiresAt"]) - dt.datetime.now(dt.UTC)
    assert abs(int(cookie["max-age"]) - expires_in.total_seconds()) < 5  # Max-Age from the token's expiry

    assert (await browser.data(ME))["me"]["email"] == email
    assert (await browser.data(CREATE))["createTicket"]["id"]

    signed_in = await clients().post(SIGN_IN, {"email": email, "password": "correct horse"})
    assert set_cookie_attributes(signed_in)["value"] == signed_in.json()["data"]["signIn"]["token"]


async def test_the_cookie_is_secure_outside_dev_and_test(start_gateway: Any, clients: Clients) -> None:
    gateway = await start_gateway(cookie_secure=True, cookie_name="sid")
    client = clients()
    client.url = f"{gateway.url}/graphql"
    response = await client.post(SIGN_UP, {"email": unique_email(), "password": "correct horse"})
    cookie = set_cookie_attributes(response)
    assert cookie["name"] == "sid" and "secure" in cookie and "httponly" in cookie


async def test_an_app_session_uses_the_bearer_token_alone(clients: Clients) -> None:
    app = clients()
    signed = await app.sign_up()  # keeps the token, drops the cookie
    assert not app.http.cookies
    assert (await app.data(ME))["me"]["id"] == signed["user"]["id"]


async def test_sign_out_clears_the_cookie(clients: Clients) -> None:
    browser = clients()
    await browser.post(SIGN_UP, {"email": unique_email(), "password": "correct horse"})
    assert (await browser.data(ME))["me"] is not None

    response = await browser.post("mutation { signOut }")
    assert response.json() == {"data": {"signOut": True}}
    cleared = set_cookie_attributes(response)
    assert (cleared["value"].strip('"'), cleared["max-age"]) == ("", "0")  # Starlette writes an empty value as ""
    assert "httponly" in cleared
    assert (await browser.data(ME))["me"] is None
    assert (await clients().data("mutation { signOut }")) == {"signOut": True}  # signed out already: still true


async def test_tampered_and_expired_tokens_are_unauthenticated(stack: Stack, clients: Clients) -> None:
    client = clients()
    signed = await client.sign_up()
    token: str = signed["token"]
    header, claims, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    expired = stack.jwt_keys.issuer.issue(
        signed["user"]["id"], signed["user"]["email"], now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    ).token

    for bad in (f"{header}.{claims}.{flipped}", expired, "not-a-jwt"):
        client.token = bad
        assert (await client.data(ME))["me"] is None  # me: simply nobody
        error = await client.error(CREATE)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", error

    browser = clients()  # the same through the cookie (the message shows the cookie did arrive)
    browser.http.cookies.set(stack.gateway.settings.cookie_name, expired)
    refused = await browser.error(CREATE)
    assert (refused["extensions"]["code"], refused["message"]) == ("UNAUTHENTICATED", "session expired")


async def test_the_bearer_header_wins_over_the_cookie(stack: Stack, clients: Clients) -> None:
    first, second = clients(), clients()
    one = await first.sign_up()
    two = await second.sign_up()
    first.http.cookies.set(stack.gateway.settings.cookie_name, two["token"])
    assert (await first.data(ME))["me"]["id"] == one["user"]["id"]


async def test_a_malformed_cookie_of_another_app_does_not_hide_the_session(stack: Stack, clients: Clients) -> None:
    client = clients()
    signed = await client.sign_up()
    client.token = None  # the cookie alone
    cookie = f'bad"cookie; theme=dark; {stack.gateway.settings.cookie_name}={signed["token"]}'
    response = await client.post(ME, headers={"Cookie": cookie})
    assert response.json() == {"data": {"me": {"id": signed["user"]["id"], "email": signed["user"]["email"]}}}
