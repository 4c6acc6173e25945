"""The GraphQL types of the public API (SPEC.md "The public API") and their construction from backend messages."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry

from common.timestamps import from_timestamp
from gateway.context import Info
from gateway.errors import ApiError
from ticketstore.auth.v1 import auth_pb2
from ticketstore.orders.v1 import orders_pb2
from ticketstore.payments.v1 import payments_pb2
from ticketstore.tickets.v1 import tickets_pb2


@strawberry.enum
class TicketStatus(enum.Enum):
    AVAILABLE = "AVAILABLE"
    RESERVED = "RESERVED"
    SOLD = "SOLD"


@strawberry.enum
class OrderStatus(enum.Enum):
    CREATED = "CREATED"
    CANCELLED = "CANCELLED"
    COMPLETE = "COMPLETE"


_TICKET_STATUS = {
    tickets_pb2.TICKET_STATUS_AVAILABLE: TicketStatus.AVAILABLE,
    tickets_pb2.TICKET_STATUS_RESERVED: TicketStatus.RESERVED,
    tickets_pb2.TICKET_STATUS_SOLD: TicketStatus.SOLD,
}
_ORDER_STATUS = {
    orders_pb2.ORDER_STATUS_CREATED: OrderStatus.CREATED,
    orders_pb2.ORDER_STATUS_CANCELLED: OrderStatus.CANCELLED,
    orders_pb2.ORDER_STATUS_COMPLETE: OrderStatus.COMPLETE,
}


def ticket_status(value: int) -> TicketStatus:
    try:
        return _TICKET_STATUS[value]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown ticket status {value}") from None  # masked as INTERNAL, logged


def order_status(value: int) -> OrderStatus:
    try:
        return _ORDER_STATUS[value]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown order status {value}") from None


@strawberry.type(description="A registered user.")
class User:
    id: strawberry.ID
    email: str

    @classmethod
    def from_proto(cls, user: auth_pb2.User) -> User:
        return cls(id=strawberry.ID(user.id), email=user.email)


@strawberry.type(description="A session: the token also arrives as an httpOnly cookie.")
class AuthPayload:
    user: User
    token: str
    expires_at: dt.datetime | None = strawberry.field(description="When the session token expires.")


@strawberry.type(description="A ticket listed for sale.")
class Ticket:
    id: strawberry.ID
    title: str
    price_cents: int = strawberry.field(description="USD, integer cents.")
    seller_id: strawberry.ID
    status: TicketStatus
    version: int = strawberry.field(description="Starts at 0; every change adds exactly 1.")
    order_id: strawberry.ID | None = strawberry.field(description="The order holding the ticket, if any.")

    @classmethod
    def from_proto(cls, ticket: tickets_pb2.Ticket) -> Ticket:
        return cls(
            id=strawberry.ID(ticket.id),
            title=ticket.title,
            price_cents=ticket.price_cents,
            seller_id=strawberry.ID(ticket.seller_id),
            status=ticket_status(ticket.status),
            version=ticket.version,
            order_id=strawberry.ID(ticket.order_id) if ticket.order_id else None,
        )


@strawberry.type
class TicketEdge:
    cursor: str
    node: Ticket


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="AVAILABLE tickets, newest first (a Relay connection).")
class TicketConnection:
    edges: list[TicketEdge]
    page_info: PageInfo

    @classmethod
    def from_proto(cls, reply: tickets_pb2.ListTicketsResponse) -> TicketConnection:
        edges = [TicketEdge(cursor=edge.cursor, node=Ticket.from_proto(edge.ticket)) for edge in reply.edges]
        return cls(
            edges=edges,
            page_info=PageInfo(has_next_page=reply.has_next_page, end_cursor=edges[-1].cursor if edges else None),
        )


async def _ticket_of_order(root: Order, info: Info) -> Ticket:
    found = await info.context.ticket_loader.load(root.ticket_id)
    if found is None:
        raise ApiError.internal()  # an order always names a ticket that exists
    return found


@strawberry.type(description="An order locks a ticket until it is paid, cancelled or expires.")
class Order:
    id: strawberry.ID
    status: OrderStatus
    expires_at: dt.datetime
    ticket: Ticket = strawberry.field(resolver=_ticket_of_order, description="The ticket this order is for.")
    version: int
    price_cents: int = strawberry.field(description="The price charged for this order, in cents.")
    ticket_id: strawberry.Private[str]

    @classmethod
    def from_proto(cls, order: orders_pb2.Order) -> Order:
        return cls(
            id=strawberry.ID(order.id),
            status=order_status(order.status),
            expires_at=from_timestamp(order.expire_time),
            version=order.version,
            price_cents=order.price_cents,
            ticket_id=order.ticket_id,
        )


@strawberry.type(description="A successful charge of an order.")
class Payment:
    id: strawberry.ID
    order_id: strawberry.ID
    stripe_id: str = strawberry.field(description="The Stripe PaymentIntent id.")
    amount_cents: int

    @classmethod
    def from_proto(cls, payment: payments_pb2.Payment) -> Payment:
        return cls(
            id=strawberry.ID(payment.id),
            order_id=strawberry.ID(payment.order_id),
            stripe_id=payment.stripe_id,
            amount_cents=payment.amount_cents,
        )


@strawberry.type(description="A ticket's lock status at one version.")
class TicketStatusEvent:
    ticket_id: strawberry.ID
    status: TicketStatus
    version: int
    order_id: strawberry.ID | None

    @classmethod
    def of(cls, ticket_id: str, status: int, version: int, order_id: str) -> TicketStatusEvent:
        return cls(
            ticket_id=strawberry.ID(ticket_id),
            status=ticket_status(status),
            version=version,
            order_id=strawberry.ID(order_id) if order_id else None,
        )
