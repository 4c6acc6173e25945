"""Session transport: where a request's token comes from, and the session cookie.

The gateway never verifies tokens itself: it forwards whatever the client presented and the services decide.
A token is taken from `Authorization: Bearer ...` first, then from the session cookie; on a websocket from the
`connection_init` payload (`Authorization` / `authorization`, any case), then from the handshake's cookie.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gateway.settings import GatewaySettings


def bearer(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, if it is one."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def parse_cookies(header: str | None) -> dict[str, str]:
    """Cookie pairs of a `Cookie` header, leniently: a malformed pair (another app's) does not hide the others.
    The first value of a repeated name wins, as browsers send the most specific cookie first."""
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if sep and name:
            found.setdefault(name.strip(), value)
    return found


class Sessions:
    def __init__(self, settings: GatewaySettings) -> None:
        self.cookie_name = settings.cookie_name
        self._secure = settings.cookie_secure
        self._max_age = settings.session_max_age_seconds

    def token_from_http(self, headers: Mapping[str, str]) -> str | None:
        """`headers` keyed by lower-case name."""
        return bearer(headers.get("authorization")) or self._from_cookie(headers) or None

    def token_from_ws(self, connection_params: Mapping[str, Any] | None, headers: Mapping[str, str]) -> str | None:
        for key, value in (connection_params or {}).items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                token = bearer(value)
                if token:
                    return token
        return self._from_cookie(headers)

    def _from_cookie(self, headers: Mapping[str, str]) -> str | None:
        return parse_cookies(headers.get("cookie")).get(self.cookie_name) or None

    def set_cookie(self, token: str, expires_at: dt.datetime | None, now: dt.datetime | None = None) -> str:
        """The Set-Cookie value for a new session: httpOnly, SameSite=Lax, Secure per settings, Max-Age to expiry."""
        max_age = self._max_age
        if expires_at is not None:
            remaining = int((expires_at - (now or dt.datetime.now(dt.UTC))).total_seconds())
            max_age = max(0, min(max_age, remaining))
        return self._cookie(token, max_age)

    def clear_cookie(self) -> str:
        return self._cookie("", 0)

    def _cookie(self, value: str, max_age: int) -> str:
        parts = [f"{self.cookie_name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if max_age == 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if self._secure:
            parts.append("Secure")
        return "; ".join(parts)
