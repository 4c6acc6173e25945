"""Payment rules and settings, without I/O."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from common.errors import Conflict, Forbidden, InvalidInput
from common.ids import new_id
from payments_svc import domain
from payments_svc.domain import IntentAction, OrderCopy, OrderStatus
from payments_svc.settings import LOCAL_EMULATOR_KEY, PaymentsSettings, is_loopback_url

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
BUYER = new_id()


def order(status: OrderStatus = OrderStatus.CREATED, expires_in: dt.timedelta = dt.timedelta(minutes=10)) -> OrderCopy:
    return OrderCopy(new_id(), BUYER, new_id(), 1000, NOW + expires_in, status, 0)


def test_valid_pay_request_passes_through() -> None:
    order_id = new_id()
    assert domain.validate_pay(order_id, "pm_card_visa") == domain.PayRequest(order_id, "pm_card_visa")
    assert domain.validate_pay(order_id, "p" * 255).payment_method == "p" * 255


@pytest.mark.parametrize(
    ("order_id", "method", "fields"),
    [
        ("nope", "pm_card_visa", {"order_id"}),
        ("A" * 24, "pm_card_visa", {"order_id"}),
        (new_id(), "", {"payment_method"}),
        (new_id(), " \t", {"payment_method"}),
        (new_id(), "p" * 256, {"payment_method"}),
        ("", "", {"order_id", "payment_method"}),
    ],
)
def test_bad_pay_requests_name_every_bad_field(order_id: str, method: str, fields: set[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.validate_pay(order_id, method)
    assert {v.field for v in caught.value.violations} == fields


def test_the_buyer_pays_a_created_unexpired_unpaid_order() -> None:
    domain.check_payable(order(), BUYER, NOW, paid=False)


def test_someone_else_is_forbidden_whatever_the_state() -> None:
    for state in (order(), order(OrderStatus.CANCELLED), order(expires_in=-dt.timedelta(minutes=1))):
        with pytest.raises(Forbidden):
            domain.check_payable(state, new_id(), NOW, paid=False)


@pytest.mark.parametrize(
    ("copy", "paid", "message"),
    [
        (order(OrderStatus.CANCELLED), False, "order is cancelled"),
        (order(OrderStatus.CANCELLED), True, "order is cancelled"),
        (order(OrderStatus.COMPLETE), False, "order already paid"),
        (order(), True, "order already paid"),
        (order(expires_in=dt.timedelta(0)), False, "order has expired"),
        (order(expires_in=-dt.timedelta(seconds=1)), False, "order has expired"),
    ],
)
def test_orders_that_cannot_be_paid(copy: OrderCopy, paid: bool, message: str) -> None:
    with pytest.raises(Conflict) as caught:
        domain.check_payable(copy, BUYER, NOW, paid=paid)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("status", "failed_before", "action"),
    [
        ("succeeded", False, IntentAction.RECORD),
        ("requires_payment_method", False, IntentAction.CONFIRM),
        ("requires_confirmation", False, IntentAction.CONFIRM),
        ("requires_confirmation", True, IntentAction.CONFIRM),
        ("requires_payment_method", True, IntentAction.RESTART),
        ("canceled", False, IntentAction.RESTART),
        ("requires_action", False, IntentAction.AUTHENTICATE),
        ("requires_capture", False, IntentAction.RESTART),
        ("processing", False, IntentAction.WAIT),
    ],
)
def test_what_to_do_with_a_stored_intent(status: str, failed_before: bool, action: IntentAction) -> None:
    assert domain.next_action(status, failed_before=failed_before) is action


def test_idempotency_keys_are_per_order_and_attempt() -> None:
    a, b = new_id(), new_id()
    assert domain.create_key(a, 0) == f"pi-create-{a}"
    assert len({domain.create_key(a, 0), domain.create_key(a, 1), domain.create_key(b, 0)}) == 3
    keys = {domain.confirm_key(a, 0, "pm_1"), domain.confirm_key(a, 0, "pm_2"), domain.confirm_key(a, 1, "pm_1")}
    assert len(keys) == 3
    assert domain.confirm_key(a, 0, "pm_1") == domain.confirm_key(a, 0, "pm_1")
    assert len(domain.confirm_key(a, 9, "p" * 255)) < 255  # Stripe's limit on idempotency keys


def test_declined_message() -> None:
    assert domain.declined_message("Your card was declined.") == "card declined: Your card was declined."
    assert domain.declined_message(None).startswith("card declined: ")


# --- settings ---


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:12111", True),
        ("http://localhost:12111", True),
        ("http://[::1]:12111", True),
        ("https://api.stripe.com", False),
        ("http://10.0.0.5:12111", False),
        ("not a url", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_a_loopback_emulator_gets_the_fake_key_outside_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    settings = PaymentsSettings(environment="dev", stripe_api_base="http://127.0.0.1:12111")
    assert settings.stripe_secret == LOCAL_EMULATOR_KEY
    assert settings.uses_stripe_emulator
    assert (settings.grpc_port, settings.mongo_db) == (50054, "payments")


def test_real_stripe_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    with pytest.raises(ValidationError, match="STRIPE_API_KEY must be set"):
        PaymentsSettings(environment="dev")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_from_env")
    settings = PaymentsSettings(environment="dev")
    assert settings.stripe_secret == "sk_test_from_env"
    assert not settings.uses_stripe_emulator
    assert "sk_test_from_env" not in repr(settings)


def test_prod_needs_a_key_even_with_an_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="STRIPE_API_KEY must be set when ENVIRONMENT=prod") as caught:
        PaymentsSettings(
            environment="prod", stripe_api_base="http://127.0.0.1:12111", mongo_url="mongodb://u:hunter2@db"
        )
    assert "hunter2" not in str(caught.value)  # the error does not echo the environment
    settings = PaymentsSettings(environment="prod", stripe_api_key="sk_live_x")  # type: ignore[arg-type]
    assert settings.stripe_secret == "sk_live_x"
