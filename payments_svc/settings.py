from __future__ import annotations

import ipaddress
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from common.settings import MongoSettings

# Accepted by the local emulator (localstripe wants any `sk_...` key) and obviously not a real secret.
LOCAL_EMULATOR_KEY = "sk_test_local"


def is_loopback_url(url: str) -> bool:
    """True when `url` points at this machine (a local Stripe emulator such as localstripe)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PaymentsSettings(MongoSettings):
    # A start-up error must not echo the environment (MONGO_URL or STRIPE_API_KEY may hold secrets).
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    grpc_port: int = 50054
    mongo_db: str = "payments"
    # STRIPE_API_KEY: required when ENVIRONMENT=prod, and whenever STRIPE_API_BASE is not a loopback emulator.
    stripe_api_key: SecretStr | None = None
    # STRIPE_API_BASE: `make dev` points it at localstripe (http://127.0.0.1:12111).
    stripe_api_base: str = "https://api.stripe.com"
    # STRIPE_EMULATOR: the API base is a local emulator (localstripe). Default: true for a loopback STRIPE_API_BASE.
    stripe_emulator: bool | None = None
    stripe_timeout_seconds: float = Field(default=10.0, gt=0)
    stripe_max_network_retries: int = Field(default=1, ge=0, le=5)
    # One request at a time works on an order's PaymentIntent: it holds a lease on the intent record, renewed
    # before each Stripe call that moves money, so it must outlast one call with its retries. A holder that
    # crashed blocks the order this long at most.
    payment_lease_seconds: float = Field(default=30.0, gt=0)
    # How long a second request for the same order waits for that lease before answering FAILED_PRECONDITION;
    # under the gateway's 10 s deadline, so the caller gets that answer rather than DEADLINE_EXCEEDED.
    payment_lease_wait_seconds: float = Field(default=8.0, ge=0)
    # How long the order.cancelled listener waits for it before asking for a redelivery later; well under the
    # consumer's ack wait, so a busy lease never makes the broker redeliver a message still in hand.
    refund_lease_wait_seconds: float = Field(default=2.0, ge=0)

    # CreatePayment right after CreateOrder may arrive before `order.created` reached our replica: an unknown
    # order is awaited this long before the answer is NOT_FOUND.
    order_arrival_wait_seconds: float = Field(default=3.0, ge=0)
    # After a charge, how long CreatePayment waits for orders_svc's verdict (the order COMPLETE, or CANCELLED because
    # its expiry won) to reach our replica; without one in time the answer is CONFLICT "not confirmed yet".
    payment_verdict_wait_seconds: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _stripe_key_is_resolvable(self) -> Self:
        self.stripe_secret  # noqa: B018 - raises with a clear message when no key can be used
        return self

    @property
    def uses_stripe_emulator(self) -> bool:
        return is_loopback_url(self.stripe_api_base) if self.stripe_emulator is None else self.stripe_emulator

    @property
    def stripe_secret(self) -> str:
        """The API key to use: STRIPE_API_KEY, or a fake test key when talking to a loopback emulator outside prod."""
        if self.stripe_api_key is not None and self.stripe_api_key.get_secret_value():
            return self.stripe_api_key.get_secret_value()
        if self.is_prod:
            raise ValueError("STRIPE_API_KEY must be set when ENVIRONMENT=prod")
        if not is_loopback_url(self.stripe_api_base):
            raise ValueError(
                f"STRIPE_API_KEY must be set: STRIPE_API_BASE={self.stripe_api_base} is not a local emulator "
                "(only a loopback emulator such as localstripe gets the fake development key)"
            )
        return LOCAL_EMULATOR_KEY
