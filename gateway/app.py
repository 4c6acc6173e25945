"""Wiring: the gateway's parts built and connected, and its HTTP server (uvicorn) started and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.requests import HTTPConnection
from starlette.responses import Response

from common import metrics, natsauth
from common.tokens import load_verifier
from gateway.asgi import GraphQLView, create_app
from gateway.clients import Backends
from gateway.context import GatewayContext
from gateway.documents import Documents, load_manifest
from gateway.frames import DirectProtocol
from gateway.live import LiveHub
from gateway.loaders import ticket_loader
from gateway.ratelimits import RateLimits
from gateway.responses import ResponseCache
from gateway.schema import build_schema
from gateway.sessions import Sessions
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
SERVING = "SERVING"


class Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: the process's (common.service.run) stop the gateway, so that it
    stops its other parts too, and a test process keeps its own Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class GatewayApp:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.sessions = Sessions(settings)
        self.verifier = load_verifier(settings.jwt_public_key_file, is_prod=settings.is_prod)
        self.limits = RateLimits(settings)
        nats_options = natsauth.connect_options("gateway", *settings.nats_credentials())
        self.hub = LiveHub(settings.nats_url, settings.subscriber_queue_size, connect_options=nats_options)
        metrics.LIVE_SUBSCRIPTIONS.set_function(self.live_subscriptions)
        self.schema = build_schema(settings)
        self.documents = Documents(
            load_manifest(settings.persisted_documents_file),
            trusted_only=settings.trusted_documents_only,
            max_bytes=settings.max_document_bytes,
        )
        self._backends: Backends | None = None
        self.responses: ResponseCache | None = None
        if settings.response_cache_size:
            self.responses = ResponseCache(lambda: self.hub.connected, settings.response_cache_size)
            self.hub.watch(self.responses.drop)
        self.view = GraphQLView(
            self.schema, settings, self.documents, self._context, self._ws_connected, responses=self.responses
        )
        self.asgi = create_app(settings, self.view, self.readiness)
        self._server: Server | None = None
        self._serving: asyncio.Task[None] | None = None
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

    def live_subscriptions(self) -> int:
        """Websocket subscriptions: each shared group (gateway.shared) is one hub subscriber for all its members."""
        shared = self.view.shared
        return self.hub.subscriber_count - shared.group_count + shared.member_count

    # --- per request ---

    def _context(self, connection: HTTPConnection, response: Response | None) -> GatewayContext:
        backends = self.backends
        if response is None:  # a websocket: the token arrives with connection_init (see _ws_connected)
            return GatewayContext(
                backends=backends,
                hub=self.hub,
                sessions=self.sessions,
                token=None,
                ticket_loader=ticket_loader(backends, None, cache=False),
                limits=self.limits,
                verifier=self.verifier,
                client_address=self._client_address(connection),
                cookies=dict(connection.cookies),
            )
        token = self.sessions.token_from_http(connection.headers, connection.cookies)
        return GatewayContext(
            backends=backends,
            hub=self.hub,
            sessions=self.sessions,
            token=token,
            ticket_loader=ticket_loader(backends, token),
            limits=self.limits,
            verifier=self.verifier,
            client_address=self._client_address(connection),
            response=response,
        )

    def _client_address(self, connection: HTTPConnection) -> str:
        header = self.settings.client_address_header
        if header:
            forwarded = connection.headers.get(header, "").split(",")[-1].strip()
            if forwarded:
                return forwarded
        return connection.client.host if connection.client is not None else ""

    def _ws_connected(self, context: GatewayContext) -> None:
        context.token = self.sessions.token_from_ws(context.connection_params, context.cookies or {})
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
            lifespan="off",  # start() and stop() run the gateway's parts
            ws=DirectProtocol,  # uvicorn's websockets-sansio, offering the fan-out its frame writer (gateway.frames)
            ws_max_size=self.settings.max_body_bytes,
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # uvicorn would trust X-Forwarded-For from loopback; CLIENT_ADDRESS_HEADER decides
            timeout_graceful_shutdown=self.settings.graceful_shutdown_seconds,
        )
        listening = config.bind_socket()  # bound here, so the port (0: a free one) is known before serving
        self.port = int(listening.getsockname()[1])
        self._server = Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[listening]), name="gateway:uvicorn")
        while not self._server.started:  # uvicorn says when it accepts connections only by this flag
            if self._serving.done():
                await self._serving
                raise RuntimeError(f"the gateway could not serve on {self.url}")
            await asyncio.sleep(0.01)
        log.info("gateway serving GraphQL on %s/graphql", self.url)

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish and close the websockets, then stop the live hub and close
        the channels."""
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
            self._server = self._serving = None
        await self.hub.stop()
        await self.limits.close()
        if self._backends is not None:
            await self._backends.close()
            self._backends = None
