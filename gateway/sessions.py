"""Session transport: where a request's token comes from, and the session cookie.

The gateway never verifies tokens itself: it forwards whatever the client presented and the services decide.
A token is taken from `Authorization: Bearer ...` first, then from the session cookie; on a websocket from the
`connection_init` payload (`Authorization` / `authorization`, any case), then from the handshake's cookie.
Cookies are read and written by Starlette (`request.cookies`, `response.set_cookie`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from gateway.settings import GatewaySettings


def bearer(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, if it is one."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Sessions:
    def __init__(self, settings: GatewaySettings) -> None:
        self.cookie_name = settings.cookie_name
        self._secure = settings.cookie_secure
        self._max_age = settings.session_max_age_seconds

    def token_from_http(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
        """`headers` looked up by lower-case name (Starlette's are case-insensitive)."""
        return bearer(headers.get("authorization")) or cookies.get(self.cookie_name) or None

    def token_from_ws(self, connection_params: Mapping[str, Any] | None, cookies: Mapping[str, str]) -> str | None:
        for key, value in (connection_params or {}).items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                token = bearer(value)
                if token:
                    return token
        return cookies.get(self.cookie_name) or None

    def max_age(self, expires_at: dt.datetime | None, now: dt.datetime | None = None) -> int:
        """Seconds the cookie lives: until the token expires, at most SESSION_MAX_AGE_SECONDS."""
        if expires_at is None:
            return self._max_age
        remaining = int((expires_at - (now or dt.datetime.now(dt.UTC))).total_seconds())
        return max(0, min(self._max_age, remaining))

    def set_cookie(self, response: Response, token: str, expires_at: dt.datetime | None) -> None:
        """A new session: httpOnly (no script reads it), SameSite=Lax, Secure per settings."""
        response.set_cookie(
            self.cookie_name,
            token,
            max_age=self.max_age(expires_at),
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie_name, path="/", secure=self._secure, httponly=True, samesite="lax")
