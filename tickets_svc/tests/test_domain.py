"""Ticket rules without I/O: validation, versions, cursors, and the order-event decisions."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

import pytest

from common import paging
from common.errors import Conflict, Forbidden, InvalidInput
from common.ids import new_id
from common.versioning import Outcome
from tickets_svc import domain
from tickets_svc.domain import Decision, OrderRef, Ticket, TicketInput, TicketStatus

NOW = dt.datetime(2025, 5, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(seconds=5)


def fields_of(error: InvalidInput) -> set[str]:
    return {v.field for v in error.violations}


def a_ticket(**changes: object) -> Ticket:
    ticket = domain.new_ticket(new_id(), "seller", TicketInput("Gig", 500), NOW)
    return Ticket(**{**ticket.__dict__, **changes})


# --- validation ---


def test_title_is_trimmed_and_price_kept() -> None:
    assert domain.validate_ticket_input("  Rock night  ", 50) == TicketInput("Rock night", 50)
    assert domain.validate_ticket_input("x" * 200, 99_999_999) == TicketInput("x" * 200, 99_999_999)
    assert domain.validate_ticket_input("  " + "x" * 200 + "\t", 1000).title == "x" * 200


@pytest.mark.parametrize("title", ["", "   ", "\n\t", "x" * 201])
def test_title_must_be_1_to_200_characters_after_trimming(title: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.validate_ticket_input(title, 500)
    assert fields_of(caught.value) == {"title"}


@pytest.mark.parametrize("price", [-1, 0, 49, 100_000_000])
def test_price_must_be_50_to_99_999_999_cents(price: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.validate_ticket_input("Gig", price)
    assert fields_of(caught.value) == {"price_cents"}


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.validate_ticket_input(" ", 10)
    assert fields_of(caught.value) == {"title", "price_cents"}


def test_update_reports_a_bad_id_with_the_other_fields() -> None:
    ticket_id = new_id()
    assert domain.validate_update(ticket_id, " Gig ", 500) == (ticket_id, TicketInput("Gig", 500))
    with pytest.raises(InvalidInput) as caught:
        domain.validate_update("nope", "", 10)
    assert fields_of(caught.value) == {"id", "title", "price_cents"}
    with pytest.raises(InvalidInput) as caught:
        domain.validate_update("nope", "Gig", 500)
    assert fields_of(caught.value) == {"id"}


# --- create and update ---


def test_a_new_ticket_is_available_at_version_0() -> None:
    ticket = domain.new_ticket("t1", "seller", TicketInput("Gig", 500), NOW)
    assert (ticket.status, ticket.order_id, ticket.version) == (TicketStatus.AVAILABLE, "", 0)
    assert ticket.created_at == ticket.updated_at == NOW


def test_each_update_adds_exactly_one_to_the_version() -> None:
    first = domain.updated_ticket(a_ticket(), "seller", TicketInput("New", 700), LATER)
    second = domain.updated_ticket(first, "seller", TicketInput("Newer", 800), LATER)
    assert [(t.version, t.title, t.price_cents) for t in (first, second)] == [(1, "New", 700), (2, "Newer", 800)]
    assert second.created_at == NOW and second.updated_at == LATER


def test_only_the_seller_may_update() -> None:
    with pytest.raises(Forbidden):
        domain.updated_ticket(a_ticket(), "someone else", TicketInput("Mine now", 500), LATER)


@pytest.mark.parametrize("status", [TicketStatus.RESERVED, TicketStatus.SOLD])
def test_no_update_while_reserved_or_once_sold(status: TicketStatus) -> None:
    with pytest.raises(Conflict):
        domain.updated_ticket(a_ticket(status=status, order_id="o1"), "seller", TicketInput("X", 500), LATER)


def test_permission_is_checked_before_state() -> None:
    with pytest.raises(Forbidden):
        domain.updated_ticket(a_ticket(status=TicketStatus.SOLD), "someone else", TicketInput("X", 500), LATER)


# --- reads ---


def test_page_size_defaults_caps_and_refuses_negatives() -> None:
    assert [domain.page_size(n) for n in (0, 1, 20, 100, 101, 10_000)] == [20, 1, 20, 100, 100, 100]
    with pytest.raises(InvalidInput) as caught:
        domain.page_size(-1)
    assert fields_of(caught.value) == {"page_size"}


def test_batch_reads_at_most_500_distinct_well_formed_ids() -> None:
    a, b = new_id(), new_id()
    assert paging.batch_ids([a, "nope", b, a, ""]) == [a, b]
    assert len(paging.batch_ids([new_id() for _ in range(500)])) == 500
    with pytest.raises(InvalidInput) as caught:
        paging.batch_ids([a] * 501)
    assert fields_of(caught.value) == {"ids"}


def test_cursor_round_trips_to_the_millisecond() -> None:
    ticket = a_ticket()
    cursor = domain.decode_cursor(domain.encode_cursor(ticket))
    assert cursor == domain.Cursor(ticket.created_at, ticket.id)


@pytest.mark.parametrize(
    "value",
    [
        "garbage!",
        "dDE",
        base64.urlsafe_b64encode(b"t1:abc:" + new_id().encode()).decode(),
        base64.urlsafe_b64encode(b"t1:123:not-an-id").decode(),
        base64.urlsafe_b64encode(b"t2:123:" + new_id().encode()).decode(),
        base64.urlsafe_b64encode(b"t1:99999999999999999999:" + new_id().encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_malformed_cursors_name_the_after_field(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.decode_cursor(value)
    assert fields_of(caught.value) == {"after"}


# --- order events ---


def test_order_created_reserves_an_available_ticket() -> None:
    ticket = a_ticket(version=3)
    decision = domain.on_order_created("o1", ticket.id, 0, None, ticket, LATER)
    assert decision.outcome is Outcome.APPLIED
    assert decision.ref == OrderRef("o1", ticket.id, 0)
    assert decision.ticket is not None
    assert (decision.ticket.status, decision.ticket.order_id, decision.ticket.version) == (
        TicketStatus.RESERVED,
        "o1",
        4,
    )


def test_order_created_twice_is_a_duplicate() -> None:
    ticket = a_ticket(status=TicketStatus.RESERVED, order_id="o1", version=1)
    decision = domain.on_order_created("o1", ticket.id, 0, OrderRef("o1", ticket.id, 0), ticket, LATER)
    assert decision == domain.Decision(Outcome.DUPLICATE)


def test_order_created_waits_for_an_unknown_ticket_or_another_holder() -> None:
    held = a_ticket(status=TicketStatus.RESERVED, order_id="other", version=1)
    assert domain.on_order_created("o1", "t404", 0, None, None, LATER) == domain.Decision(Outcome.EARLY)
    assert domain.on_order_created("o1", held.id, 0, None, held, LATER) == domain.Decision(Outcome.EARLY)


def test_order_created_for_a_ticket_sold_to_another_order_is_recorded_without_touching_it() -> None:
    sold = a_ticket(status=TicketStatus.SOLD, order_id="other", version=2)
    decision = domain.on_order_created("o1", sold.id, 0, None, sold, LATER)
    assert decision == domain.Decision(Outcome.APPLIED, ref=OrderRef("o1", sold.id, 0))
    cancelled = domain.on_order_cancelled("o1", sold.id, 1, decision.ref, sold, LATER)
    assert cancelled == domain.Decision(Outcome.APPLIED, ref=OrderRef("o1", sold.id, 1))


@pytest.mark.parametrize(
    ("rule", "status", "holder"),
    [(domain.on_order_cancelled, TicketStatus.AVAILABLE, ""), (domain.on_order_completed, TicketStatus.SOLD, "o1")],
)
def test_order_end_moves_the_ticket_it_holds(rule: Callable[..., Decision], status: TicketStatus, holder: str) -> None:
    ticket = a_ticket(status=TicketStatus.RESERVED, order_id="o1", version=1)
    ref = OrderRef("o1", ticket.id, 0)
    decision = rule("o1", ticket.id, 1, ref, ticket, LATER)
    assert decision.outcome is Outcome.APPLIED
    assert decision.ref == OrderRef("o1", ticket.id, 1)
    assert decision.ticket is not None
    assert (decision.ticket.status, decision.ticket.order_id, decision.ticket.version) == (status, holder, 2)
    # Unknown order: early. Seen already: duplicate.
    assert rule("o1", ticket.id, 1, None, ticket, LATER) == domain.Decision(Outcome.EARLY)
    assert rule("o1", ticket.id, 1, OrderRef("o1", ticket.id, 1), ticket, LATER) == domain.Decision(Outcome.DUPLICATE)


def test_an_old_orders_cancel_never_frees_a_newer_buyers_hold() -> None:
    held_by_b = a_ticket(status=TicketStatus.RESERVED, order_id="b", version=3)
    decision = domain.on_order_cancelled("a", held_by_b.id, 1, OrderRef("a", held_by_b.id, 0), held_by_b, LATER)
    assert decision == domain.Decision(Outcome.APPLIED, ref=OrderRef("a", held_by_b.id, 1))
