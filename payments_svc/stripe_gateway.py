"""The few Stripe calls payments_svc makes (PaymentIntents and Refunds), through the official async client.

Works against api.stripe.com and against localstripe (the dev/test emulator):
- The library pins API version 2026-10-28.endive, on which Stripe refuses the `payment_method_types` create
  parameter (replaced by `allowed_payment_method_types` since 2026-09-30.endive); localstripe only knows the old
  name, so `emulator=True` sends that one.
- localstripe cannot confirm with a `payment_method` argument, so the method is attached with an update first
  (Stripe accepts that too); it cannot confirm a declined intent again (we move on to a fresh intent); it does
  not replay idempotency keys (our own lease guarantees charge-once; the keys guard Stripe-side retries).
- localstripe knows only some of Stripe's test PaymentMethod names; with `emulator=True` the others we offer
  (`EMULATOR_TEST_CARDS`, e.g. `pm_card_authenticationRequired`) become a PaymentMethod made from their card number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self, cast

import aiohttp
import stripe
from stripe.params import PaymentIntentCreateParams, PaymentMethodCreateParams

from common import metrics
from payments_svc.domain import CANCELLABLE, CURRENCY
from payments_svc.settings import PaymentsSettings

log = logging.getLogger(__name__)

# Stripe test PaymentMethods localstripe does not know -> the test card number that behaves the same there.
EMULATOR_TEST_CARDS = {"pm_card_authenticationRequired": "4000002500003155"}  # 3-D Secure required


@dataclass(frozen=True)
class Intent:
    """What we need of a PaymentIntent."""

    id: str
    status: str
    amount: int
    currency: str
    failed_before: bool  # it carries a last payment error (e.g. a decline, a failed 3-D Secure challenge)
    client_secret: str | None = None  # for the buyer's browser to complete a `requires_action` intent


class CardDeclined(Exception):
    def __init__(self, message: str | None) -> None:
        super().__init__(message)
        self.message = message


class UnknownPaymentMethod(Exception):
    pass


def _intent(pi: stripe.PaymentIntent) -> Intent:
    return Intent(
        pi.id,
        str(pi.status),
        int(pi.amount),
        str(pi.currency),
        pi.last_payment_error is not None,
        getattr(pi, "client_secret", None),
    )


class StripeGateway:
    def __init__(
        self,
        api_key: str,
        api_base: str,
        *,
        emulator: bool = False,
        timeout: float = 10.0,
        max_network_retries: int = 1,
    ) -> None:
        self._emulator = emulator
        # aiohttp, not httpx: stripe's httpx client passes `data=<str>`, which httpx 0.28 deprecates.
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=timeout))
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    @classmethod
    def from_settings(cls, settings: PaymentsSettings) -> Self:
        return cls(
            settings.stripe_secret,
            settings.stripe_api_base,
            emulator=settings.uses_stripe_emulator,
            timeout=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries,
        )

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    @metrics.stripe_call("create_intent")
    async def create_intent(self, order_id: str, amount_cents: int, idempotency_key: str) -> Intent:
        params: dict[str, object] = {"amount": amount_cents, "currency": CURRENCY, "metadata": {"order_id": order_id}}
        params["payment_method_types" if self._emulator else "allowed_payment_method_types"] = ["card"]
        pi = await self.client.v1.payment_intents.create_async(
            cast(PaymentIntentCreateParams, params), {"idempotency_key": idempotency_key}
        )
        return _intent(pi)

    @metrics.stripe_call("retrieve")
    async def retrieve(self, intent_id: str) -> Intent | None:
        """The intent, or None when Stripe does not know it (e.g. an emulator that was reset)."""
        try:
            return _intent(await self.client.v1.payment_intents.retrieve_async(intent_id))
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise

    @metrics.stripe_call("confirm")
    async def confirm(self, intent_id: str, payment_method: str, idempotency_key: str) -> Intent:
        """Attach `payment_method` and confirm. CardDeclined / UnknownPaymentMethod for the caller's mistakes.
        A card that needs 3-D Secure answers an intent in `requires_action` (with its client secret)."""
        if self._emulator and payment_method in EMULATOR_TEST_CARDS:
            payment_method = await self._emulator_test_card(EMULATOR_TEST_CARDS[payment_method])
        try:
            await self.client.v1.payment_intents.update_async(intent_id, {"payment_method": payment_method})
            pi = await self.client.v1.payment_intents.confirm_async(
                intent_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.CardError as error:
            raise CardDeclined(error.user_message) from error
        except stripe.InvalidRequestError as error:
            # Real Stripe names the bad parameter; the emulator answers 404 for an unknown PaymentMethod.
            if error.param == "payment_method" or error.http_status == 404:
                raise UnknownPaymentMethod(str(error)) from error
            raise
        return _intent(pi)

    async def _emulator_test_card(self, number: str) -> str:
        """A PaymentMethod with the raw test card `number` (localstripe accepts card numbers; Stripe would not)."""
        card = {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        method = await self.client.v1.payment_methods.create_async(
            cast(PaymentMethodCreateParams, {"type": "card", "card": card})
        )
        return method.id

    @metrics.stripe_call("cancel")
    async def cancel(self, intent: Intent) -> None:
        """Cancel an intent that can no longer be charged by us; a no-op for final states."""
        if intent.status not in CANCELLABLE:
            return
        try:
            await self.client.v1.payment_intents.cancel_async(intent.id)
        except stripe.InvalidRequestError:
            log.warning("could not cancel PaymentIntent %s (status %s)", intent.id, intent.status, exc_info=True)

    @metrics.stripe_call("refund")
    async def refund(self, intent_id: str, idempotency_key: str) -> str:
        """Refund the intent's charge in full, at most once: an existing refund is reused. Returns the refund id."""
        existing = await self.client.v1.refunds.list_async({"payment_intent": intent_id, "limit": 10})
        for refund in existing.data:
            if refund.status in ("succeeded", "pending", "requires_action"):
                return refund.id
        refund = await self.client.v1.refunds.create_async(
            {"payment_intent": intent_id}, {"idempotency_key": idempotency_key}
        )
        return refund.id
