"""What a resolver knows about its request: the session token, the backends, per-request DataLoaders, the live hub,
and the response to put cookies on (HTTP only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import strawberry
from starlette.responses import Response
from strawberry.dataloader import DataLoader

if TYPE_CHECKING:
    from common.tokens import TokenVerifier
    from gateway.clients import Backends
    from gateway.live import LiveHub
    from gateway.ratelimits import RateLimits
    from gateway.sessions import Sessions
    from gateway.types import Ticket


@dataclass
class GatewayContext:
    backends: Backends
    hub: LiveHub
    sessions: Sessions
    token: str | None
    ticket_loader: DataLoader[str, Ticket | None]
    limits: RateLimits
    verifier: TokenVerifier
    client_address: str = ""  # the TCP peer, or the configured proxy header's (gateway.app)
    response: Response | None = None  # None on a websocket: no cookies can be set there
    cookies: dict[str, str] | None = None  # a websocket handshake's, for its session (see GatewayApp)
    connection_params: dict[str, Any] | None = None  # graphql-transport-ws `connection_init` payload


Info = strawberry.Info[GatewayContext, None]
