"""The HTTP edge: a tiny ASGI router (`/graphql`, `/healthz`, `/readyz`) and Strawberry's view on raw ASGI.

Strawberry's own `strawberry.asgi.GraphQL` needs Starlette, which is not among our dependencies; the base view
(`AsyncBaseHTTPView`) is framework-neutral, so this module gives it a request, a response and a websocket written
directly against the ASGI spec. Only the `graphql-transport-ws` subprotocol is offered (the legacy `graphql-ws`
one is not: CVE-2026-35523); queries and mutations are POST only; GET with `Accept: text/html` serves GraphiQL.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import parse_qsl

from cross_web import AsyncHTTPRequestAdapter, FormData, HTTPException
from cross_web.request._base import HTTPMethod, QueryParams
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.async_base_view import AsyncBaseHTTPView, AsyncWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from gateway.context import CookieJar, GatewayContext
from gateway.errors import ApiError, Code
from gateway.extensions import document_too_large

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ContextFactory = Callable[[Mapping[str, str], CookieJar | None], GatewayContext]

AnyView = AsyncBaseHTTPView[Any, Any, Any, Any, Any, Any, Any]
GRAPHQL_PATHS = ("/graphql", "/graphql/")


class BodyTooLarge(Exception):
    pass


def decode_headers(raw: Any) -> dict[str, str]:
    """ASGI headers as a dict keyed by lower-case name; repeats are joined (cookies with '; ')."""
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw or ():
        name, value = name_bytes.decode("latin-1").lower(), value_bytes.decode("latin-1")
        if name in headers:
            headers[name] = f"{headers[name]}{'; ' if name == 'cookie' else ', '}{value}"
        else:
            headers[name] = value
    return headers


class HttpRequest:
    def __init__(self, scope: Scope, receive: Receive, max_body: int) -> None:
        self.scope = scope
        self._receive = receive
        self._max_body = max_body
        self._body: bytes | None = None
        self.headers = decode_headers(scope.get("headers"))
        self.method: str = scope.get("method", "GET").upper()
        self.query_params: dict[str, str] = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )

    @property
    def url(self) -> str:
        host = self.headers.get("host", "")
        query = self.scope.get("query_string", b"").decode("latin-1")
        return f"{self.scope.get('scheme', 'http')}://{host}{self.scope.get('path', '')}" + (
            f"?{query}" if query else ""
        )

    async def body(self) -> bytes:
        """The request body; BodyTooLarge as soon as it exceeds the limit (declared or received)."""
        if self._body is not None:
            return self._body
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self._body = b"".join(chunks)
        return self._body


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, data: Any) -> HttpResponse:
        return cls(status, json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", self.content_type.encode("latin-1")),
            (b"content-length", str(len(self.body)).encode()),
            (b"cache-control", b"no-store"),
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


@dataclass
class SubResponse:
    """What resolvers may add to the HTTP response: cookies."""

    cookies: CookieJar = field(default_factory=CookieJar)
    status_code: int | None = None


class RequestAdapter(AsyncHTTPRequestAdapter):
    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @property
    def method(self) -> HTTPMethod:
        return self._request.method  # type: ignore[return-value]

    @property
    def query_params(self) -> QueryParams:
        return self._request.query_params

    @property
    def path_params(self) -> Mapping[str, Any]:
        return {}

    @property
    def headers(self) -> Mapping[str, str]:
        return self._request.headers

    @property
    def content_type(self) -> str | None:
        return self._request.headers.get("content-type")

    async def get_body(self) -> bytes:
        return await self._request.body()

    async def get_form_data(self) -> FormData:
        raise HTTPException(415, "Unsupported content type")

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def cookies(self) -> Mapping[str, str]:
        return {}

    @property
    def client_host(self) -> str | None:
        client = self._request.scope.get("client")
        return str(client[0]) if client else None


class WsState(enum.Enum):
    CONNECTING = 0
    OPEN = 1
    CLOSED = 2


class WebSocket:
    """One ASGI websocket connection (its `websocket.connect` already received)."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.headers = decode_headers(scope.get("headers"))
        self.state = WsState.CONNECTING
        requested = scope.get("subprotocols") or []
        self.subprotocols: list[str] = [str(p) for p in requested]

    async def accept(self, subprotocol: str | None) -> None:
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": []})
        self.state = WsState.OPEN

    async def reject(self) -> None:
        """Close before accepting: the server answers the handshake with 403."""
        self.state = WsState.CLOSED
        await self._send({"type": "websocket.close", "code": 1008, "reason": ""})

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.state = WsState.CLOSED
        return message

    async def send_text(self, text: str) -> None:
        if self.state is not WsState.OPEN:
            raise WebSocketDisconnected
        try:
            await self._send({"type": "websocket.send", "text": text})
        except Exception as error:  # the server raises once the peer is gone (e.g. ClientDisconnected)
            self.state = WsState.CLOSED
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        if self.state is WsState.CLOSED:
            return
        self.state = WsState.CLOSED
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:  # already gone
            log.debug("websocket close after disconnect", exc_info=True)


class WebSocketAdapter(AsyncWebSocketAdapter):
    def __init__(self, view: AnyView, request: WebSocket, response: WebSocket) -> None:
        super().__init__(view)
        self.ws = response

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> Any:
        while self.ws.state is WsState.OPEN:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            text = message.get("text")
            if text is None:
                raise NonTextMessageReceived
            try:
                decoded = self.view.decode_json(text)
            except json.JSONDecodeError as error:
                if ignore_parsing_errors:
                    continue
                raise NonJsonMessageReceived from error
            yield decoded

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        await self.ws.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


class TransportWsHandler(BaseGraphQLTransportWSHandler[GatewayContext, None]):
    """graphql-transport-ws, refusing an oversized document with an `error` message before it is parsed."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        query = payload.get("query") if isinstance(payload, dict) else None
        limit = getattr(self.view, "max_document_bytes", None)
        if (
            self.connection_acknowledged
            and isinstance(query, str)
            and isinstance(limit, int)
            and document_too_large(query, limit)
            and message.get("id") not in self.operations
        ):
            error = ApiError(Code.DOCUMENT_TOO_LARGE, f"the document is larger than {limit} bytes")
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)


class GraphQLView(
    AsyncBaseHTTPView[HttpRequest, HttpResponse, SubResponse, WebSocket, WebSocket, GatewayContext, None]
):
    allow_queries_via_get = False
    request_adapter_class = RequestAdapter
    websocket_adapter_class = WebSocketAdapter
    graphql_transport_ws_handler_class = TransportWsHandler
    protocols = (GRAPHQL_TRANSPORT_WS_PROTOCOL,)

    def __init__(
        self,
        schema: BaseSchema,
        make_context: ContextFactory,
        on_connect: Callable[[GatewayContext, Mapping[str, str]], None],
        *,
        max_document_bytes: int,
        max_subscriptions_per_connection: int,
        allowed_origins: frozenset[str] = frozenset(),
    ) -> None:
        self.schema = schema
        self.graphql_ide = "graphiql"
        self._make_context = make_context
        self._on_connect = on_connect
        self.max_document_bytes = max_document_bytes
        self.max_subscriptions_per_connection = max_subscriptions_per_connection
        self.allowed_origins = allowed_origins

    # --- HTTP ---

    async def get_root_value(self, request: HttpRequest | WebSocket) -> None:
        return None

    async def get_sub_response(self, request: HttpRequest) -> SubResponse:
        return SubResponse()

    async def get_context(self, request: HttpRequest | WebSocket, response: SubResponse | WebSocket) -> GatewayContext:
        cookies = response.cookies if isinstance(response, SubResponse) else None
        return self._make_context(request.headers, cookies)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: SubResponse
    ) -> HttpResponse:
        encoded = self.encode_json(response_data)
        body = encoded if isinstance(encoded, bytes) else encoded.encode()
        headers = [("set-cookie", cookie) for cookie in sub_response.cookies.headers]
        return HttpResponse(sub_response.status_code or 200, body, headers=headers)

    async def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, self.graphql_ide_html.encode(), "text/html; charset=utf-8")

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return parsed

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        for data in parsed if isinstance(parsed, list) else [parsed]:
            if data.operation_name is not None and not isinstance(data.operation_name, str):
                raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null")
            if data.query is not None and document_too_large(data.query, self.max_document_bytes):
                raise HTTPException(413, f"The GraphQL document is larger than {self.max_document_bytes} bytes")
        return parsed

    async def execute_single(
        self,
        request: HttpRequest,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: SubResponse,
        context: GatewayContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # Queries and mutations by POST only; subscriptions only over graphql-transport-ws.
        allowed = {OperationType.QUERY, OperationType.MUTATION} if request_adapter.method == "POST" else set()
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason()) from error
        except InvalidOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason(request_adapter.method)) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error

    # --- websockets ---

    def is_websocket_request(self, request: HttpRequest | WebSocket) -> TypeGuard[WebSocket]:
        return isinstance(request, WebSocket)

    async def pick_websocket_subprotocol(self, request: WebSocket) -> str | None:
        return GRAPHQL_TRANSPORT_WS_PROTOCOL if GRAPHQL_TRANSPORT_WS_PROTOCOL in request.subprotocols else None

    async def create_websocket_response(self, request: WebSocket, subprotocol: str | None) -> WebSocket:
        await request.accept(subprotocol)
        return request

    def get_websocket_headers(self, request: WebSocket) -> Mapping[str, str]:
        return request.headers

    async def reject_websocket(self, request: WebSocket) -> WebSocket:
        await request.reject()
        return request

    async def on_ws_connect(self, context: GatewayContext) -> UnsetType | dict[str, object] | None:
        self._on_connect(context, context.headers)
        unset: UnsetType = UNSET
        return unset


Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class Router:
    """The ASGI application: `/graphql` (HTTP + websocket), `/healthz` (always 200), `/readyz` (backends SERVING)."""

    def __init__(self, view: GraphQLView, readiness: Readiness, max_body_bytes: int) -> None:
        self._view = view
        self._readiness = readiness
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":  # the gateway starts and stops its parts itself (GatewayApp)
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == "/healthz":
            response = HttpResponse.json(200, {"status": "ok"})
        elif path == "/readyz":
            ready, detail = await self._readiness()
            response = HttpResponse.json(200 if ready else 503, {"ready": ready, **detail})
        elif path in GRAPHQL_PATHS:
            response = await self._graphql(scope, receive)
        else:
            response = HttpResponse.text(404, "Not Found")
        await response.send(send)

    async def _graphql(self, scope: Scope, receive: Receive) -> HttpResponse:
        request = HttpRequest(scope, receive, self._max_body)
        try:
            return await self._view.run(request)
        except HTTPException as error:
            return HttpResponse.text(error.status_code, error.reason)
        except BodyTooLarge:
            return HttpResponse.text(413, f"The request body is larger than {self._max_body} bytes")
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, scope.get("path"))
            return HttpResponse.text(500, "internal error")

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        websocket = WebSocket(scope, receive, send)
        if scope.get("path", "") not in GRAPHQL_PATHS:
            await websocket.reject()
            return
        try:
            await self._view.run(websocket)
        except Exception:
            log.exception("unhandled error on a websocket")
            await websocket.close(1011, "internal error")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
