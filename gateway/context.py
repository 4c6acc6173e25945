"""What a resolver knows about its request: the session token, the backends, per-request DataLoaders, the live hub,
and where to put cookies (HTTP only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

if TYPE_CHECKING:
    from gateway.clients import Backends
    from gateway.live import LiveHub
    from gateway.sessions import Sessions
    from gateway.types import Ticket


@dataclass
class CookieJar:
    """Set-Cookie headers a resolver asks for; the HTTP view adds them to the response."""

    headers: list[str] = field(default_factory=list)


@dataclass
class GatewayContext:
    backends: Backends
    hub: LiveHub
    sessions: Sessions
    token: str | None
    ticket_loader: DataLoader[str, Ticket | None]
    headers: Mapping[str, str] = field(default_factory=dict)  # the request's (or websocket handshake's), lower-case
    cookies: CookieJar | None = None  # None on a websocket: no cookies can be set there
    connection_params: dict[str, Any] | None = None  # graphql-transport-ws `connection_init` payload


Info = strawberry.Info[GatewayContext, None]
