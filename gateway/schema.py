# mypy: disable-error-code="untyped-decorator"
# (strawberry's field decorators with arguments are typed as returning Any; the resolvers themselves are typed)
"""The public GraphQL API: queries, mutations and subscriptions (SPEC.md "The public API"), resolved over gRPC."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import ExecutionContext

from common import metrics, tracing
from common.errors import Unauthenticated
from common.timestamps import from_timestamp
from common.tokens import Caller
from gateway.context import GatewayContext, Info
from gateway.errors import ApiError, Code
from gateway.extensions import MaskInternalErrors, Observe, log_errors, max_depth_rule
from gateway.live import Signal, SubscriberDropped
from gateway.settings import GatewaySettings
from gateway.types import (
    AuthPayload,
    Order,
    Payment,
    Ticket,
    TicketConnection,
    TicketStatusEvent,
    User,
)
from ticketstore.auth.v1 import auth_pb2
from ticketstore.orders.v1 import orders_pb2
from ticketstore.payments.v1 import payments_pb2
from ticketstore.tickets.v1 import tickets_pb2

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 64
DEFAULT_PAGE = 20
MAX_PAGE = 100
MY_ORDERS_PAGE = 200  # ListMyOrders allows 1..200


def require_id(value: str, field: str) -> str:
    """Obviously bad ids are refused here; the services stay the authority on what an id is."""
    value = value.strip()
    if not value:
        raise ApiError.bad_input(field, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ApiError.bad_input(field, "is too long")
    return value


async def _get_ticket(context: GatewayContext, ticket_id: str, id_field: str) -> tickets_pb2.Ticket:
    backends = context.backends
    reply = await backends.call(
        backends.tickets.GetTicket, tickets_pb2.GetTicketRequest(id=ticket_id), context.token, {"id": id_field}
    )
    return reply.ticket


async def _get_order(context: GatewayContext, order_id: str, id_field: str) -> Order:
    backends = context.backends
    reply = await backends.call(
        backends.orders.GetOrder, orders_pb2.GetOrderRequest(id=order_id), context.token, {"id": id_field}
    )
    return Order.from_proto(reply.order)


def _caller(context: GatewayContext) -> Caller:
    """The verified signed-in user (the services verify again), or UNAUTHENTICATED."""
    if not context.token:
        raise ApiError(Code.UNAUTHENTICATED, "sign in first")
    try:
        return context.verifier.verify(context.token)
    except Unauthenticated as error:
        raise ApiError(Code.UNAUTHENTICATED, error.message) from None


def _start_session(info: Info, reply: auth_pb2.SignUpResponse | auth_pb2.SignInResponse) -> AuthPayload:
    context = info.context
    expires_at = from_timestamp(reply.expire_time) if reply.HasField("expire_time") else None
    if context.response is not None:
        context.sessions.set_cookie(context.response, reply.token, expires_at)
    return AuthPayload(user=User.from_proto(reply.user), token=reply.token, expires_at=expires_at)


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user; null when signed out (or the session is not valid).")
    async def me(self, info: Info) -> User | None:
        context = info.context
        if not context.token:
            return None
        backends = context.backends
        try:
            reply = await backends.call(backends.auth.GetCurrentUser, auth_pb2.GetCurrentUserRequest(), context.token)
        except ApiError as error:
            if error.code is Code.UNAUTHENTICATED:
                return None
            raise
        return User.from_proto(reply.user)

    @strawberry.field(description="AVAILABLE tickets, newest first. `first`: 1..100.")
    async def tickets(
        self, info: Info, first: int | None = DEFAULT_PAGE, after: str | None = strawberry.UNSET
    ) -> TicketConnection:
        first = DEFAULT_PAGE if first is None else first
        if not 1 <= first <= MAX_PAGE:
            raise ApiError.bad_input("first", f"must be between 1 and {MAX_PAGE}")
        context = info.context
        backends = context.backends
        reply = await backends.call(
            backends.tickets.ListTickets,
            tickets_pb2.ListTicketsRequest(page_size=first, after=after or ""),  # UNSET is falsy
            context.token,
            {"page_size": "first", "after": "after"},
        )
        return TicketConnection.from_proto(reply)

    @strawberry.field(description="A ticket in any state; null when there is none with this id.")
    async def ticket(self, info: Info, id: strawberry.ID) -> Ticket | None:
        try:
            return Ticket.from_proto(await _get_ticket(info.context, require_id(id, "id"), "id"))
        except ApiError as error:
            if error.code is Code.NOT_FOUND:
                return None
            raise

    @strawberry.field(description="The signed-in user's orders, newest first.")
    async def my_orders(self, info: Info) -> list[Order]:
        context = info.context
        backends = context.backends
        reply = await backends.call(
            backends.orders.ListMyOrders, orders_pb2.ListMyOrdersRequest(page_size=MY_ORDERS_PAGE), context.token
        )
        return [Order.from_proto(order) for order in reply.orders]

    @strawberry.field(description="One of the signed-in user's orders; null when there is none with this id.")
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        try:
            return await _get_order(info.context, require_id(id, "id"), "id")
        except ApiError as error:
            if error.code is Code.NOT_FOUND:
                return None
            raise


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Creates an account and signs it in (token + session cookie).")
    async def sign_up(self, info: Info, email: str, password: str) -> AuthPayload:
        await info.context.limits.before_sign_up(info.context.client_address)
        backends = info.context.backends
        reply = await backends.call(backends.auth.SignUp, auth_pb2.SignUpRequest(email=email, password=password), None)
        return _start_session(info, reply)

    @strawberry.mutation(description="Signs in (token + session cookie).")
    async def sign_in(self, info: Info, email: str, password: str) -> AuthPayload:
        context = info.context
        await context.limits.before_sign_in(email, context.client_address)
        backends = context.backends
        try:
            reply = await backends.call(
                backends.auth.SignIn, auth_pb2.SignInRequest(email=email, password=password), None
            )
        except ApiError as error:
            if error.code is Code.UNAUTHENTICATED:  # "invalid credentials": a failure that reached auth
                await context.limits.sign_in_failed(email, context.client_address)
            raise
        return _start_session(info, reply)

    @strawberry.mutation(
        description="Signs out: the session token is revoked everywhere and the cookie cleared. Always true."
    )
    async def sign_out(self, info: Info) -> bool:
        context = info.context
        if context.response is not None:
            context.sessions.clear_cookie(context.response)
        if context.token:
            backends = context.backends
            try:
                await backends.call(backends.auth.SignOut, auth_pb2.SignOutRequest(), context.token)
            except ApiError as error:
                if error.code is not Code.UNAUTHENTICATED:  # an invalid or expired token needs no revoking
                    raise
        return True

    @strawberry.mutation(description="Lists a ticket for sale (signed in).")
    async def create_ticket(self, info: Info, title: str, price_cents: int) -> Ticket:
        context = info.context
        backends = context.backends
        reply = await backends.call(
            backends.tickets.CreateTicket,
            tickets_pb2.CreateTicketRequest(title=title, price_cents=price_cents),
            context.token,
        )
        return Ticket.from_proto(reply.ticket)

    @strawberry.mutation(description="Changes a ticket's title and price (its seller; not while reserved or sold).")
    async def update_ticket(self, info: Info, id: strawberry.ID, title: str, price_cents: int) -> Ticket:
        context = info.context
        backends = context.backends
        reply = await backends.call(
            backends.tickets.UpdateTicket,
            tickets_pb2.UpdateTicketRequest(id=require_id(id, "id"), title=title, price_cents=price_cents),
            context.token,
        )
        return Ticket.from_proto(reply.ticket)

    @strawberry.mutation(description="Orders an AVAILABLE ticket, which locks it until paid, cancelled or expired.")
    async def create_order(self, info: Info, ticket_id: strawberry.ID) -> Order:
        context = info.context
        await context.limits.before_create_order(_caller(context).user_id)
        ticket_id = strawberry.ID(require_id(ticket_id, "ticketId"))
        # The version this gateway shows now, so the order records the price the buyer saw (orders_svc's copy of
        # the ticket may lag a change by a moment). Loaded once per request: Order.ticket reuses it.
        shown = await context.ticket_loader.load(ticket_id)
        backends = context.backends
        reply = await backends.call(
            backends.orders.CreateOrder,
            orders_pb2.CreateOrderRequest(ticket_id=ticket_id, seen_ticket_version=shown.version if shown else 0),
            context.token,
        )
        return Order.from_proto(reply.order)

    @strawberry.mutation(description="Cancels a CREATED order (its buyer); a CANCELLED one is returned unchanged.")
    async def cancel_order(self, info: Info, id: strawberry.ID) -> Order:
        context = info.context
        backends = context.backends
        reply = await backends.call(
            backends.orders.CancelOrder, orders_pb2.CancelOrderRequest(id=require_id(id, "id")), context.token
        )
        return Order.from_proto(reply.order)

    @strawberry.mutation(description="Pays an order with a Stripe payment method, e.g. `pm_card_visa` in test mode.")
    async def pay_order(self, info: Info, order_id: strawberry.ID, payment_method: str) -> Payment:
        if not payment_method.strip():
            raise ApiError.bad_input("paymentMethod", "must not be empty")
        context = info.context
        backends = context.backends
        reply = await backends.call(
            backends.payments.CreatePayment,
            payments_pb2.CreatePaymentRequest(
                order_id=require_id(order_id, "orderId"), payment_method=payment_method.strip()
            ),
            context.token,
        )
        return Payment.from_proto(reply.payment)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="First the ticket's current status, then every change.")
    async def ticket_status(self, info: Info, ticket_id: strawberry.ID) -> AsyncGenerator[TicketStatusEvent, None]:
        context = info.context
        ticket_id = strawberry.ID(require_id(ticket_id, "ticketId"))
        # Listen before reading, so a change between the read and the subscription is not lost.
        async with context.hub.subscribe(("ticket", ticket_id)) as subscriber:
            ticket = await _get_ticket(context, ticket_id, "ticketId")
            last = ticket.version
            yield TicketStatusEvent.of(ticket.id, ticket.status, ticket.version, ticket.order_id)
            while True:
                try:
                    item = await subscriber.next()
                except SubscriberDropped:
                    return
                event: Any = await _get_ticket(context, ticket_id, "ticketId") if item is Signal.RESYNC else item
                if event.version <= last:
                    continue  # a duplicate, or older than what this client already saw
                last = event.version
                ticket_key = event.id if item is Signal.RESYNC else event.ticket_id
                yield TicketStatusEvent.of(ticket_key, event.status, event.version, event.order_id)

    @strawberry.subscription(description="The buyer's order: first as it is now, then after every change.")
    async def order_status(self, info: Info, order_id: strawberry.ID) -> AsyncGenerator[Order, None]:
        context = info.context
        order_id = strawberry.ID(require_id(order_id, "orderId"))
        async with context.hub.subscribe(("order", order_id)) as subscriber:
            order = await _get_order(context, order_id, "orderId")
            last = order.version
            yield order
            while True:
                try:
                    item = await subscriber.next()
                except SubscriberDropped:
                    return
                if item is not Signal.RESYNC and int(getattr(item, "version", -1)) <= last:
                    continue
                order = await _get_order(context, order_id, "orderId")  # as the subscriber: still the buyer
                if order.version > last:
                    last = order.version
                    yield order


class GatewaySchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:  # noqa: ARG002
        log_errors(errors)


def build_schema(settings: GatewaySettings) -> GatewaySchema:
    # Built once, so the validation cache (keyed by the rule classes) hits across requests. The document's size is
    # limited before it reaches the schema (gateway.documents).
    limits = [
        max_depth_rule(settings.max_query_depth),
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.introspection_enabled:
        limits.append(NoSchemaIntrospectionCustomRule)
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(disable_field_suggestions=settings.is_prod),
        extensions=[
            lambda: AddValidationRules(limits),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            MaskInternalErrors,
            *([Observe] if metrics.enabled() or tracing.enabled() else []),  # none: no per-operation hooks at all
        ],
    )


def sdl(schema: strawberry.Schema | None = None) -> str:
    """The schema's SDL, as checked in at gateway/schema.graphql."""
    return (schema or build_schema(GatewaySettings())).as_str().rstrip("\n") + "\n"
