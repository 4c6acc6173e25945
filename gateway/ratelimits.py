"""Rate limits (SPEC.md "Accounts"), counted in Redis so that every gateway replica shares them.

    failed sign-ins   per email and per client address   FAILED_SIGN_INS_PER_EMAIL / _PER_ADDRESS (5/15 minutes)
    sign-ups + sign-ins per client address               AUTH_ATTEMPTS_PER_ADDRESS
    createOrder       per signed-in user                 CREATE_ORDERS_PER_USER

Moving windows from the `limits` library. A refusal is `RATE_LIMITED` with `retryAfterSeconds`. Failures are
counted after auth answered "invalid credentials" (only an attempt that reached auth can fail), and checked before
the next one; attempts are counted before they are made. Emails and addresses are hashed into the keys, so a
huge or odd value cannot make a huge key. If Redis cannot be reached the limits are not applied (logged): the
hashing bound in auth_svc still protects it, and sign-in keeps working through a Redis outage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from gateway.errors import ApiError
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
TOO_MANY_SIGN_INS = "too many sign-in attempts; try again later"
TOO_MANY_REQUESTS = "too many requests; try again later"
REDIS_TIMEOUT_SECONDS = 0.5


def _key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RateLimits:
    def __init__(self, settings: GatewaySettings) -> None:
        self._storage = RedisStorage(
            "async+" + settings.redis_url,
            implementation="redispy",
            key_prefix=settings.rate_limit_key_prefix,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._failed_per_email = parse(settings.failed_sign_ins_per_email)
        self._failed_per_address = parse(settings.failed_sign_ins_per_address)
        self._attempts_per_address = parse(settings.auth_attempts_per_address)
        self._orders_per_user = parse(settings.create_orders_per_user)

    async def close(self) -> None:
        # limits has no close of its own; its redis-py client is the bridge's `storage`.
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    async def before_sign_in(self, email: str, address: str) -> None:
        email_key = _key(email.strip().lower())
        await self._refuse_if_spent(self._failed_per_email, "failed-email", email_key, message=TOO_MANY_SIGN_INS)
        await self._refuse_if_spent(
            self._failed_per_address, "failed-address", _key(address), message=TOO_MANY_SIGN_INS
        )
        await self._count(self._attempts_per_address, "auth-address", _key(address), TOO_MANY_SIGN_INS)

    async def sign_in_failed(self, email: str, address: str) -> None:
        await self._count(self._failed_per_email, "failed-email", _key(email.strip().lower()), None)
        await self._count(self._failed_per_address, "failed-address", _key(address), None)

    async def before_sign_up(self, address: str) -> None:
        await self._count(self._attempts_per_address, "auth-address", _key(address), TOO_MANY_REQUESTS)

    async def before_create_order(self, user_id: str) -> None:
        await self._count(self._orders_per_user, "create-order", user_id, TOO_MANY_REQUESTS)

    async def _refuse_if_spent(self, limit: RateLimitItem, *key: str, message: str) -> None:
        try:
            allowed = await self._limiter.test(limit, *key)
        except Exception:
            log.warning("rate limits unavailable (Redis); not applied", exc_info=True)
            return
        if not allowed:
            raise await self._refusal(limit, key, message)

    async def _count(self, limit: RateLimitItem, kind: str, key: str, message: str | None) -> None:
        """Count one; with a `message`, refuse when the limit was already reached (the refused one is not counted)."""
        try:
            allowed = await self._limiter.hit(limit, kind, key)
        except Exception:
            log.warning("rate limits unavailable (Redis); not applied", exc_info=True)
            return
        if not allowed and message is not None:
            raise await self._refusal(limit, (kind, key), message)

    async def _refusal(self, limit: RateLimitItem, key: tuple[str, ...], message: str) -> ApiError:
        try:
            stats = await self._limiter.get_window_stats(limit, *key)
            retry_after = math.ceil(stats.reset_time - time.time())
        except Exception:  # noqa: BLE001 (the refusal stands; only its delay is estimated)
            retry_after = limit.get_expiry()
        return ApiError.rate_limited(message, retry_after)
