"""The HTTP edge: a Starlette app with Strawberry's own ASGI view at `/graphql`, health and readiness, the web
client and its run-time settings. Only what is ours is here: the request context, which documents run
(gateway.documents), the websocket session; Strawberry's view does the rest, the origin check of websockets
included.

`/graphql`: queries and mutations by POST; subscriptions over `graphql-transport-ws` only (the legacy `graphql-ws`
protocol is not offered: CVE-2026-35523); GET with `Accept: text/html` serves GraphiQL (unless disabled), the page
that the web client's build makes of the `graphiql` npm packages (gateway.web.graphiql_page), never a CDN.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from common import metrics
from gateway.context import GatewayContext
from gateway.documents import Documents
from gateway.errors import ApiError, Code
from gateway.frames import FrameWriter
from gateway.loaders import ticket_loader
from gateway.responses import ResponseCache
from gateway.settings import GatewaySettings
from gateway.shared import Deliver, End, Member, Payload, SharedSubscriptions, Stream, share_key
from gateway.web import NO_CACHE, SecurityHeaders, WebClient, client_config, graphiql_page

if TYPE_CHECKING:
    from cross_web import AsyncHTTPRequestAdapter  # the type of Strawberry's own hook argument

ContextFactory = Callable[[HTTPConnection, Response | None], GatewayContext]
Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
POST_OPERATIONS = {OperationType.QUERY, OperationType.MUTATION}
SURROGATE = re.compile("[\ud800-\udfff]")


class TransportWsHandler(BaseGraphQLTransportWSHandler[GatewayContext, None]):
    """graphql-transport-ws, where `subscribe` names its document as an HTTP request does (query and/or the
    persisted-query extension); a refused document gets an `error` message before anything is parsed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shared_members: dict[str, Member] = {}  # by operation id: the shared subscriptions running

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            payload: Any = message.get("payload")
            if not isinstance(payload, dict):
                await self.handle_invalid_message("A subscribe message needs a payload object")
                return
            try:
                query = cast("GraphQLView", self.view).documents.admit(payload.get("query"), payload.get("extensions"))
            except ApiError as error:
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
            if query is not None:
                payload["query"] = query  # what Strawberry runs: the text, or the persisted document it names
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[GatewayContext, None]) -> None:
        """A subscription of public fields joins the group of its document and variables (gateway.shared): one
        execution and one serialized payload per event for the whole group, this operation's id spliced into each
        frame. Any other subscription runs alone, as Strawberry runs it."""
        key = share_key(operation.query, operation.operation_name, operation.variables)
        if key is None:
            await super().run_operation(operation)
            return
        # Public fields only: the group's execution runs as nobody, never as one member's session.
        context = dataclasses.replace(
            self.context, token=None, ticket_loader=ticket_loader(self.context.backends, None, cache=False),
            response=None, cookies=None, connection_params=None,
        )  # fmt: skip

        async def start() -> Stream:
            return await self.schema.stream(
                operation.query, variable_values=operation.variables, context_value=context,
                operation_name=operation.operation_name,
            )  # fmt: skip

        view = cast("GraphQLView", self.view)
        websocket = cast(ASGIWebSocketAdapter, self.websocket).ws
        frame_head = '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":'
        writer = FrameWriter.of(websocket.scope)
        deliver: Deliver | None = None
        if writer is not None:
            prefix = frame_head.encode()

            def deliver(payload: Payload) -> bool:
                """Written from the group's loop: no task of this operation wakes for it. Batched per turn where this
                connection runs several shared subscriptions (a burst may bring each of them a frame)."""
                if not writer.ready:
                    return False
                writer.write(payload.framed(prefix, b"}"), batched=len(self.shared_members) > 1)
                return True

        member = view.shared.join(key, start, view.encode_payload, deliver)
        self.shared_members[operation.id] = member
        try:
            while True:
                item = await member.next()
                if isinstance(item, Payload):
                    if operation.completed:
                        return
                    try:
                        await websocket.send_text(frame_head + item.text + "}")
                    except WebSocketDisconnect:
                        raise WebSocketDisconnected from None
                    member.sent()
                elif isinstance(item, End):
                    break  # the stream ended, or this client was too slow: `complete`, as Strawberry ends a stream
                else:
                    await self._handle_pre_execution_error(operation, item)
                    return
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        finally:
            self._leave(operation.id, member)

    async def cleanup_operation(self, operation_id: str) -> None:
        """The client's `complete` (or the connection's end): a shared member leaves its group at once, so that the
        group's loop writes nothing more for this operation."""
        member = self.shared_members.get(operation_id)
        if member is not None:
            self._leave(operation_id, member)
        await super().cleanup_operation(operation_id)

    def _leave(self, operation_id: str, member: Member) -> None:
        if self.shared_members.get(operation_id) is member:
            del self.shared_members[operation_id]
        cast("GraphQLView", self.view).shared.leave(member)


class GraphQLView(GraphQL[GatewayContext, None]):
    graphql_transport_ws_handler_class = TransportWsHandler

    def __init__(
        self,
        schema: BaseSchema,
        settings: GatewaySettings,
        documents: Documents,
        make_context: ContextFactory,
        on_connect: Callable[[GatewayContext], None],
        responses: ResponseCache | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.ws_allowed_origins,
        )
        self.documents = documents
        self.shared = SharedSubscriptions(settings.subscriber_queue_size)
        self.responses = responses
        self.web_dist_dir = settings.web_dist_dir
        self._make_context = make_context
        self._on_connect = on_connect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        metrics.WEBSOCKETS.inc()
        try:
            return await super().__call__(scope, receive, send)
        finally:
            metrics.WEBSOCKETS.dec()

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page(self.web_dist_dir)  # ours, not Strawberry's page (which loads GraphiQL from a CDN)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> GatewayContext:
        return self._make_context(request, response if isinstance(response, Response) else None)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        response = await super().get_sub_response(request)
        response.headers["cache-control"] = "no-store"  # every answer is one user's, at one moment
        return response

    async def on_ws_connect(self, context: GatewayContext) -> UnsetType | dict[str, object] | None:
        self._on_connect(context)  # the session: connection_init's Authorization, else the handshake's cookie
        return await super().on_ws_connect(context)

    def encode_payload(self, result: ExecutionResult) -> str:
        """A `next` frame's payload, as Strawberry's transport writes it."""
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        return self.encode_json_string(payload)

    def decode_json(self, data: str | bytes) -> object:
        """JSON of an HTTP body or a websocket message; what cannot be a GraphQL request is a decode error (HTTP 400,
        websocket closed 4400): too deeply nested, not UTF-8, or holding lone surrogates (not encodable text)."""
        try:
            decoded = json.loads(data)
        except (RecursionError, UnicodeDecodeError) as error:
            raise json.JSONDecodeError(f"not a usable JSON document ({type(error).__name__})", "", 0) from None
        if has_lone_surrogate(decoded):
            raise json.JSONDecodeError("strings must be valid Unicode (no lone surrogates)", "", 0)
        return decoded

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return parsed

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GatewayContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        if request_data.operation_name is not None and not isinstance(request_data.operation_name, str):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null")
        try:
            query = self.documents.admit(request_data.query, request_data.extensions)
        except ApiError as error:
            if error.code is Code.DOCUMENT_TOO_LARGE:
                sub_response.status_code = 413
            return ExecutionResult(data=None, errors=[error])
        # Queries and mutations by POST only: GET serves GraphiQL, subscriptions go over graphql-transport-ws.
        allowed = POST_OPERATIONS if request.method == "POST" else set()
        cache, key, generation = self.responses, None, 0
        if cache is not None and query is not None and request.method == "POST":
            key = cache.key(query, request_data.operation_name, request_data.variables)
            if key is not None and (cached := cache.get(key)) is not None:
                return cached
            generation = cache.generation
        try:
            result = await self.schema.execute(
                query,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason()) from error
        except InvalidOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason(request.method)) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error
        if cache is not None and query is not None:
            if key is not None:
                cache.put(key, generation, result)
            elif cache.is_mutation(query, request_data.operation_name):
                cache.drop()  # this caller reads its own write, even before the change's event arrives
        return result


def has_lone_surrogate(value: object) -> bool:
    """Any string (key or value) with a UTF-16 surrogate, which no UTF-8 encoder (protobuf's included) accepts."""
    pending = [value]
    while pending:  # iterative: the document may be nested as deep as the JSON parser allowed
        item = pending.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def create_app(settings: GatewaySettings, view: GraphQLView, readiness: Readiness) -> ASGIApp:
    """The gateway's ASGI app. The body limit holds for every HTTP request (413 before it is read in full);
    a websocket message is limited by the server (uvicorn's ws_max_size)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})

    async def readyz(request: Request) -> Response:
        ready, detail = await readiness()
        return JSONResponse(
            {"ready": ready, **detail}, status_code=200 if ready else 503, headers={"cache-control": "no-store"}
        )

    async def client_config_json(request: Request) -> Response:
        return JSONResponse(client_config(settings), headers={"cache-control": NO_CACHE})

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/client-config.json", client_config_json),
    ]
    for path in ("/graphql", "/graphql/"):
        routes += [Route(path, view), WebSocketRoute(path, view)]
    routes.append(Mount("", WebClient(settings.web_dist_dir)))  # the rest: the client's files and paths
    app: ASGIApp = Starlette(routes=routes, max_body_size=settings.max_body_bytes)
    return SecurityHeaders(app, settings.stripe_js_url) if settings.is_prod else app
