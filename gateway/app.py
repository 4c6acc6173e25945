"""Wiring: the gateway's parts built and connected, and its HTTP server (uvicorn) started and stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import uvicorn
from strawberry.http.websocket_origin import normalize_allowed_origins

from gateway.asgi import GraphQLView, Router
from gateway.clients import Backends
from gateway.context import CookieJar, GatewayContext
from gateway.live import LiveHub
from gateway.loaders import ticket_loader
from gateway.schema import build_schema
from gateway.sessions import Sessions
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
SERVING = "SERVING"


class GatewayApp:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.sessions = Sessions(settings)
        self.hub = LiveHub(settings.nats_url, settings.subscriber_queue_size)
        self.schema = build_schema(settings)
        self._backends: Backends | None = None
        self.view = GraphQLView(
            self.schema,
            self._http_context,
            self._ws_connected,
            max_document_bytes=settings.max_document_bytes,
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=normalize_allowed_origins(settings.ws_allowed_origins),
        )
        self.asgi = Router(self.view, self.readiness, settings.max_body_bytes)
        self._server: uvicorn.Server | None = None
        self._main_loop: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def backends(self) -> Backends:
        if self._backends is None:
            raise RuntimeError("the gRPC channels are opened by start()")
        return self._backends

    @property
    def url(self) -> str:
        """The base address, e.g. http://127.0.0.1:8000 (valid once started)."""
        return f"http://{self.settings.gateway_host}:{self.port}"

    # --- per request ---

    def _http_context(self, headers: Mapping[str, str], cookies: CookieJar | None) -> GatewayContext:
        backends = self.backends
        if cookies is None:  # a websocket: the token arrives with connection_init (see _ws_connected)
            return GatewayContext(
                backends=backends,
                hub=self.hub,
                sessions=self.sessions,
                token=None,
                ticket_loader=ticket_loader(backends, None, cache=False),
                headers=headers,
            )
        token = self.sessions.token_from_http(headers)
        return GatewayContext(
            backends=backends,
            hub=self.hub,
            sessions=self.sessions,
            token=token,
            ticket_loader=ticket_loader(backends, token),
            headers=headers,
            cookies=cookies,
        )

    def _ws_connected(self, context: GatewayContext, headers: Mapping[str, str]) -> None:
        context.token = self.sessions.token_from_ws(context.connection_params, headers)
        # Not cached: one websocket lives long and the tickets it shows change.
        context.ticket_loader = ticket_loader(self.backends, context.token, cache=False)

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        statuses = await self.backends.health()
        return all(status == SERVING for status in statuses.values()), {
            "backends": statuses,
            "live": self.hub.connected,
        }

    # --- lifecycle ---

    async def start(self) -> None:
        """Open the gRPC channels, subscribe to live events, then listen (port 0 picks a free port)."""
        self._backends = Backends(self.settings)
        await self.hub.start()
        config = uvicorn.Config(
            self.asgi,
            host=self.settings.gateway_host,
            port=self.settings.gateway_port,
            lifespan="off",
            ws="websockets-sansio",
            ws_max_size=self.settings.max_body_bytes,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=self.settings.graceful_shutdown_seconds,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup()
        if not server.started:
            raise RuntimeError(f"cannot listen on {self.settings.gateway_host}:{self.settings.gateway_port}")
        self._server = server
        self.port = int(server.servers[0].sockets[0].getsockname()[1])
        self._main_loop = asyncio.create_task(server.main_loop(), name="gateway:uvicorn")
        log.info("gateway serving GraphQL on %s/graphql", self.url)

    async def stop(self) -> None:
        """Stop accepting, end live subscriptions, let in-flight requests finish, then close the channels."""
        if self._server is not None:
            self._server.should_exit = True
            if self._main_loop is not None:
                await self._main_loop
            await self.hub.stop()
            await self._server.shutdown()
            self._server = None
        else:
            await self.hub.stop()
        if self._backends is not None:
            await self._backends.close()
            self._backends = None
