"""Order rules without servers."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pydantic import ValidationError

from common import paging
from common.errors import Conflict, Forbidden, InvalidInput
from orders_svc import domain
from orders_svc.domain import Order, OrderStatus, TicketCopy, TicketStatus
from orders_svc.settings import OrdersSettings

NOW = dt.datetime(2030, 5, 6, 7, 8, 9, 123_456, tzinfo=dt.UTC)
SELLER, BUYER = "a" * 24, "b" * 24


def ticket(status: TicketStatus = TicketStatus.AVAILABLE, order_id: str = "") -> TicketCopy:
    return TicketCopy("c" * 24, "Gig", 1_500, SELLER, status, 3, order_id)


def order(status: OrderStatus = OrderStatus.CREATED, order_id: str = "d" * 24) -> Order:
    made = domain.new_order(order_id, ticket(), BUYER, NOW, dt.timedelta(minutes=15))
    return Order(**{**made.__dict__, "status": status})


def test_new_order_is_created_at_the_ticket_price_and_expires_after_the_window() -> None:
    made = domain.new_order("d" * 24, ticket(), BUYER, NOW, dt.timedelta(seconds=900))
    assert made.status is OrderStatus.CREATED
    assert (made.price_cents, made.version, made.user_id, made.ticket_id) == (1_500, 0, BUYER, "c" * 24)
    assert made.created_at == NOW.replace(microsecond=123_000)  # milliseconds, as MongoDB stores them
    assert made.expires_at - made.created_at == dt.timedelta(seconds=900)


def test_who_may_order_which_ticket() -> None:
    domain.check_orderable(ticket(), BUYER, None)
    with pytest.raises(Conflict, match="you cannot buy your own ticket"):
        domain.check_orderable(ticket(), SELLER, None)
    with pytest.raises(Conflict, match="reserved"):
        domain.check_orderable(ticket(TicketStatus.RESERVED, "e" * 24), BUYER, None)
    with pytest.raises(Conflict, match="reserved"):  # held by an order of ours that is still active
        domain.check_orderable(ticket(TicketStatus.RESERVED, "d" * 24), BUYER, order(OrderStatus.CREATED))
    with pytest.raises(Conflict, match="sold"):
        domain.check_orderable(ticket(TicketStatus.SOLD, "d" * 24), BUYER, order(OrderStatus.COMPLETE))
    with pytest.raises(Conflict, match="not available"):
        domain.check_orderable(ticket(TicketStatus.UNKNOWN), BUYER, None)
    # Reserved by an order we already cancelled: only the release is still on its way.
    domain.check_orderable(ticket(TicketStatus.RESERVED, "d" * 24), BUYER, order(OrderStatus.CANCELLED))


def test_ticket_status_names() -> None:
    assert TicketStatus.parse("TICKET_STATUS_RESERVED") is TicketStatus.RESERVED
    assert TicketStatus.parse("SOLD") is TicketStatus.SOLD
    assert TicketStatus.parse("TICKET_STATUS_UNSPECIFIED") is TicketStatus.UNKNOWN
    assert TicketStatus.parse("") is TicketStatus.UNKNOWN


def test_cancel_expiry_and_payment_decisions() -> None:
    assert domain.wants_cancel(order(OrderStatus.CREATED)) is True
    assert domain.wants_cancel(order(OrderStatus.CANCELLED)) is False
    with pytest.raises(Conflict, match="paid order cannot be cancelled"):
        domain.wants_cancel(order(OrderStatus.COMPLETE))
    assert [domain.expires(order(s)) for s in OrderStatus] == [True, False, False]
    assert [domain.completes(order(s)) for s in OrderStatus] == [True, False, False]


def test_a_payment_completes_only_an_order_reserved_at_its_price() -> None:
    mine = "d" * 24
    reserved = ticket(TicketStatus.RESERVED, mine)
    repriced = dataclasses.replace(reserved, price_cents=2_000, version=5)
    verdict = domain.payment_verdict
    assert verdict(order(), reserved) is domain.PaymentVerdict.COMPLETE
    assert verdict(order(), repriced) is domain.PaymentVerdict.CANCEL
    assert verdict(order(), ticket()) is domain.PaymentVerdict.WAIT  # the reservation is still on its way
    assert verdict(order(), ticket(TicketStatus.RESERVED, "e" * 24)) is domain.PaymentVerdict.WAIT
    assert verdict(order(), None) is domain.PaymentVerdict.WAIT
    assert [verdict(order(s), reserved) for s in (OrderStatus.CANCELLED, OrderStatus.COMPLETE)] == [
        domain.PaymentVerdict.IGNORE
    ] * 2
    assert domain.reserved_at_other_price(order(), repriced) is True
    assert domain.reserved_at_other_price(order(), reserved) is False
    assert domain.reserved_at_other_price(order(OrderStatus.COMPLETE), repriced) is False  # paid: never undone
    assert domain.reserved_at_other_price(order(), dataclasses.replace(repriced, order_id="e" * 24)) is False


def test_each_change_adds_one_to_the_version() -> None:
    later = NOW + dt.timedelta(seconds=5)
    gone = domain.cancelled(order(), later)
    assert (gone.status, gone.version, gone.updated_at) == (
        OrderStatus.CANCELLED,
        1,
        later.replace(microsecond=123_000),
    )
    paid = domain.completed(order(), later)
    assert (paid.status, paid.version) == (OrderStatus.COMPLETE, 1)
    assert gone.holds_ticket is False and paid.holds_ticket is True and order().holds_ticket is True


def test_only_the_buyer() -> None:
    domain.check_buyer(order(), BUYER)
    with pytest.raises(Forbidden):
        domain.check_buyer(order(), SELLER)


def test_page_size_and_batches() -> None:
    assert [domain.page_size(n) for n in (0, 1, 200, 201, 10_000)] == [100, 1, 200, 200, 200]
    with pytest.raises(InvalidInput) as caught:
        domain.page_size(-1)
    assert [v.field for v in caught.value.violations] == ["page_size"]
    assert paging.batch_ids(["d" * 24, "nope", "d" * 24, "e" * 24]) == ["d" * 24, "e" * 24]
    with pytest.raises(InvalidInput) as caught:
        paging.batch_ids(["d" * 24] * 501)
    assert [v.field for v in caught.value.violations] == ["ids"]


def test_expiration_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OrdersSettings().order_expiration_seconds == 900
    assert (OrdersSettings().grpc_port, OrdersSettings().mongo_db) == (50053, "orders")
    monkeypatch.setenv("ORDER_EXPIRATION_SECONDS", "60")
    assert OrdersSettings().order_expiration_seconds == 60
    monkeypatch.setenv("ORDER_EXPIRATION_SECONDS", "0")
    with pytest.raises(ValidationError):
        OrdersSettings()
