"""The use cases of payments_svc: paying (CreatePayment), reading a payment (GetPayment), and the ORDERS events
(the order replica, and refunds for orders cancelled after they were charged). At most one charge per order.

Every Stripe call that can move money for an order happens while holding that order's lease: a conditional
update on its `intents` record claims it for `lease_seconds` (renewed before each charge or refund). So two
requests never confirm, cancel or refund for the same order at the same time, whatever the emulator or Stripe
does with idempotency keys, and a crashed holder only blocks the order until its lease expires.

Each order uses one PaymentIntent at a time (stored before it is confirmed, reused on retry). A declined or dead
intent is cancelled and replaced by a fresh one (attempt + 1), so the order stays payable. An intent that needs 3-D
Secure (`requires_action`) is kept: the answer is PaymentActionRequired with its client secret, the buyer's browser
completes the challenge with Stripe, and the next request records the succeeded intent (a failed challenge leaves it
declined: replaced as above). Cancelling the order cancels such an intent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, NoReturn

from common.bus import Outcome
from common.clock import Clock
from common.errors import Conflict, InvalidInput, NotFound, PaymentActionRequired, PaymentFailed
from common.ids import new_id
from common.replica import await_copy
from common.retry import LostRace, retry_lost_races
from payments_svc import domain
from payments_svc.domain import IntentAction, OrderCopy, OrderStatus, PaymentRecord
from payments_svc.store import IntentRecord, PaymentsStore
from payments_svc.stripe_gateway import CardDeclined, Intent, StripeGateway, UnknownPaymentMethod

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
MAX_INTENT_ROUNDS = 4  # a stored intent, a replacement for a dead one, and a lost race: never an endless loop


class LeaseBusy(Exception):
    """Another request kept the order's lease longer than we were willing to wait."""


class LeaseLost(Exception):
    """Our lease expired and someone else took it: stop before calling Stripe again."""


class StillProcessing(Exception):
    """Stripe is still processing the intent of a cancelled order: whether to refund is not known yet. Transient:
    the bus redelivers the order.cancelled (capped backoff, no limit) until the intent settles."""


class Lease:
    def __init__(self, store: PaymentsStore, clock: Clock, order_id: str, owner: str, seconds: float) -> None:
        self._store = store
        self._clock = clock
        self.order_id = order_id
        self.owner = owner
        self._seconds = seconds

    async def renew(self) -> None:
        """Called right before each Stripe call that moves money, so it runs with a full lease."""
        until = self._clock() + dt.timedelta(seconds=self._seconds)
        if not await self._store.renew_lease(self.order_id, self.owner, until):
            raise LeaseLost(f"lost the payment lease of order {self.order_id}")


def _action_required(intent: Intent) -> NoReturn:
    """The answer for an intent waiting for the buyer's 3-D Secure challenge."""
    if not intent.client_secret:
        raise RuntimeError(f"PaymentIntent {intent.id} requires action, but Stripe sent no client secret")
    raise PaymentActionRequired(intent.client_secret)


class Payments:
    def __init__(
        self,
        store: PaymentsStore,
        stripe: StripeGateway,
        clock: Clock,
        *,
        lease_seconds: float = 30.0,
        lease_wait_seconds: float = 8.0,
        refund_lease_wait_seconds: float = 2.0,
        order_arrival_wait_seconds: float = 3.0,
        verdict_wait_seconds: float = 5.0,
    ) -> None:
        self._store = store
        self._stripe = stripe
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._lease_wait_seconds = lease_wait_seconds
        self._refund_lease_wait_seconds = refund_lease_wait_seconds
        self._order_arrival_wait_seconds = order_arrival_wait_seconds
        self._verdict_wait_seconds = verdict_wait_seconds
        self._in_flight: set[asyncio.Future[PaymentRecord]] = set()

    # --- the API ---

    async def pay(self, caller_id: str, order_id: str, payment_method: str) -> PaymentRecord:
        """Shielded: a caller that gives up (a gRPC deadline) does not cancel a charge half-way; it runs to its
        end, so every charge is recorded as a Payment (or left to the cancellation's refund), never dropped."""
        work = asyncio.ensure_future(self._pay(caller_id, order_id, payment_method))
        self._in_flight.add(work)
        work.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(work)

    async def _pay(self, caller_id: str, order_id: str, payment_method: str) -> PaymentRecord:
        request = domain.validate_pay(order_id, payment_method)
        await self._order_arrival(request.order_id)
        await self._check_payable(request.order_id, caller_id)  # cheap refusals first, without waiting for a lease
        try:
            async with self._lease(request.order_id, self._lease_wait_seconds, create=True) as lease:
                order = await self._check_payable(request.order_id, caller_id)  # what the holder before us did counts
                return await self._charge(order, request.payment_method, lease)
        except LeaseBusy as error:
            raise Conflict("another payment of this order is in progress; try again shortly") from error

    async def payment_for(self, caller_id: str, order_id: str) -> PaymentRecord:
        order = await self._store.order(domain.validate_order_id(order_id))
        if order is None:
            raise NotFound("order not found")
        domain.check_buyer(order, caller_id)
        payment = await self._store.payment_by_order(order_id)
        if payment is None:
            raise NotFound("this order has no payment")
        return payment

    # --- ORDERS events: the order replica ---

    async def order_created(self, order_id: str, version: int, fields: dict[str, Any]) -> Outcome:
        return await self._store.apply_order(order_id, version, fields)

    async def order_cancelled(self, order_id: str, version: int) -> Outcome:
        """Also refunds the order's charge, if it has one. Raises LeaseBusy while a payment of it is in progress."""
        outcome = await self._store.apply_order(order_id, version, {"status": OrderStatus.CANCELLED.value})
        if outcome is Outcome.EARLY:
            return outcome
        await self._settle_cancelled(order_id)  # also on a duplicate: a redelivery after a failed refund retries it
        return outcome

    async def order_completed(self, order_id: str, version: int) -> Outcome:
        return await self._store.apply_order(order_id, version, {"status": OrderStatus.COMPLETE.value})

    # --- paying ---

    async def _order_arrival(self, order_id: str) -> None:
        """Give an order that was just created the moment its event needs to reach the replica (bounded)."""
        if await self._store.order(order_id) is None:
            log.debug("order %s is not in the replica yet: waiting for its event", order_id)
        await await_copy(lambda: self._store.order(order_id), self._order_arrival_wait_seconds, POLL_SECONDS)

    async def _check_payable(self, order_id: str, caller_id: str) -> OrderCopy:
        order = await self._store.order(order_id)
        if order is None:
            raise NotFound("order not found")
        paid = await self._store.payment_by_order(order_id) is not None
        domain.check_payable(order, caller_id, self._clock(), paid=paid)
        return order

    async def _charge(self, order: OrderCopy, payment_method: str, lease: Lease) -> PaymentRecord:
        async def attempt() -> PaymentRecord:
            record = await self._store.intent(order.id)
            assert record is not None  # created with the lease
            intent = await self._current_intent(order, record, lease)
            action = domain.next_action(intent.status, failed_before=intent.failed_before)
            if action is IntentAction.RECORD:
                return await self._record(order, intent, lease)
            if action is IntentAction.WAIT:
                raise Conflict("the payment of this order is still processing; try again shortly")
            if action is IntentAction.AUTHENTICATE:
                if record.payment_method in (None, payment_method):
                    _action_required(intent)
                # The buyer chose another payment method instead of completing the challenge: drop this intent,
                # unless the challenge was completed meanwhile (then that charge is the order's payment).
                dropped = await self._cancel_waiting(intent)
                if dropped is not None and dropped.status == "succeeded":
                    return await self._record(order, dropped, lease)
                if dropped is not None and dropped.status == "processing":
                    raise Conflict("the payment of this order is still processing; try again shortly")
                await self._store.next_attempt(order.id, record.attempt)
                raise LostRace(f"order {order.id}: PaymentIntent {intent.id} awaiting 3-D Secure replaced")
            if action is IntentAction.RESTART:
                await self._restart(record, intent)
                raise LostRace(f"order {order.id}: PaymentIntent {intent.id} replaced by a fresh one")
            return await self._confirm(order, record, intent, payment_method, lease)

        return await retry_lost_races(attempt, attempts=MAX_INTENT_ROUNDS, what=f"order {order.id}'s PaymentIntent")

    async def _current_intent(self, order: OrderCopy, record: IntentRecord, lease: Lease) -> Intent:
        """The intent this attempt uses: the stored one, or a new one stored before anything confirms it.
        LostRace when the record changed meanwhile (read it again)."""
        if record.stripe_id is not None:
            stored = await self._stripe.retrieve(record.stripe_id)
            if stored is None:  # unknown to Stripe (an emulator that was reset): start a fresh attempt
                log.warning("order %s: PaymentIntent %s is unknown to Stripe", order.id, record.stripe_id)
                await self._store.next_attempt(order.id, record.attempt)
                raise LostRace(f"order {order.id}: PaymentIntent {record.stripe_id} is gone")
            return stored
        await lease.renew()
        created = await self._stripe.create_intent(
            order.id, order.price_cents, domain.create_key(order.id, record.attempt)
        )
        if await self._store.set_intent(order.id, record.attempt, created.id):
            return created
        # Someone stored an intent for this attempt first (our lease must have expired): theirs is the one.
        # On real Stripe the idempotency key may have handed us that very intent: never cancel the stored one.
        winner = await self._store.intent(order.id)
        if winner is None or winner.stripe_id != created.id:
            log.warning("order %s: PaymentIntent %s lost the race; cancelling it", order.id, created.id)
            await self._stripe.cancel(created)
        raise LostRace(f"order {order.id}: another request stored its PaymentIntent first")

    async def _cancel_waiting(self, intent: Intent) -> Intent | None:
        """Cancel an intent awaiting 3-D Secure and answer what Stripe then holds: the buyer's browser may complete
        the challenge at any moment, also while we cancel (Stripe then refuses the cancel and it succeeded)."""
        await self._stripe.cancel(intent)
        return await self._stripe.retrieve(intent.id)

    async def _restart(self, record: IntentRecord, intent: Intent) -> None:
        await self._stripe.cancel(intent)
        await self._store.next_attempt(record.order_id, record.attempt)

    async def _confirm(
        self, order: OrderCopy, record: IntentRecord, intent: Intent, payment_method: str, lease: Lease
    ) -> PaymentRecord:
        await lease.renew()
        await self._store.set_payment_method(order.id, record.attempt, payment_method)
        key = domain.confirm_key(order.id, record.attempt, payment_method)
        try:
            confirmed = await self._stripe.confirm(intent.id, payment_method, key)
        except CardDeclined as declined:
            await self._restart(record, intent)  # the order stays payable, with a fresh intent next time
            raise PaymentFailed(domain.declined_message(declined.message)) from declined
        except UnknownPaymentMethod as error:
            raise InvalidInput.single("payment_method", "unknown payment method") from error
        except Exception:
            # The outcome is unknown (timeout, connection lost, ...): Stripe's view decides, now or on a retry.
            checked = await self._stripe.retrieve(intent.id)
            if checked is None or checked.status not in ("succeeded", "requires_action"):
                raise
            confirmed = checked
        if confirmed.status == "succeeded":
            return await self._record(order, confirmed, lease)
        if confirmed.status == "processing":
            raise Conflict("the payment of this order is still processing; try again shortly")
        if confirmed.status == "requires_action":
            _action_required(confirmed)  # the intent is kept for the buyer's 3-D Secure challenge
        await self._restart(record, confirmed)
        raise PaymentFailed(f"card declined: payment ended as {confirmed.status}")

    async def _record(self, order: OrderCopy, intent: Intent, lease: Lease) -> PaymentRecord:
        """The charge succeeded: store the payment with its event (one transaction), then answer only what
        orders_svc decided (see `_verdict`)."""
        if intent.amount != order.price_cents or intent.currency != domain.CURRENCY:
            raise RuntimeError(f"order {order.id}: PaymentIntent {intent.id} charged {intent.amount} {intent.currency}")
        payment = PaymentRecord(new_id(), order.id, intent.id, intent.amount, self._clock())
        if not await self._store.add_payment(payment, announce=True):
            existing = await self._store.payment_by_order(order.id)
            if existing is None:
                raise RuntimeError(f"order {order.id}: payment {payment.id} refused, yet none is stored")
            payment = existing
        return await self._verdict(payment, lease)

    async def _verdict(self, payment: PaymentRecord, lease: Lease) -> PaymentRecord:
        """orders_svc alone decides whether the payment or the expiry won: wait (bounded) until our replica shows
        its verdict. COMPLETE: the Payment. CANCELLED: refund, CONFLICT. No verdict in time (NATS or orders_svc
        away): CONFLICT saying so, never a Payment; the same events settle it later (complete, or cancel + refund).
        """

        async def decided() -> OrderCopy | None:
            current = await self._store.order(payment.order_id)
            return None if current is None or current.status is OrderStatus.CREATED else current

        verdict = await await_copy(decided, self._verdict_wait_seconds, POLL_SECONDS)
        if verdict is None:
            log.warning("order %s: charged (%s), no verdict from orders_svc yet", payment.order_id, payment.stripe_id)
            raise Conflict(domain.NOT_CONFIRMED)
        if verdict.status is OrderStatus.CANCELLED:
            await self._refund(payment, lease)
            raise Conflict(domain.CANCELLED_REFUNDED)
        return payment

    # --- refunding ---

    async def _settle_cancelled(self, order_id: str) -> None:
        """The order is cancelled: refund its charge if it has one. Idempotent.

        Raises LeaseBusy when a payment of the order is in progress (the caller retries later: the payer either
        sees the cancellation itself or leaves a payment behind for the retry to refund)."""
        order = await self._store.order(order_id)
        if order is None or order.status is not OrderStatus.CANCELLED:
            return
        if await self._store.intent(order_id) is None:
            return  # nobody ever started paying it (a payer creates this record before checking the order)
        async with self._lease(order_id, self._refund_lease_wait_seconds, create=False) as lease:
            payment = await self._store.payment_by_order(order_id)
            if payment is not None:
                if not payment.refunded:
                    await self._refund(payment, lease)
                return
            record = await self._store.intent(order_id)
            if record is None or record.stripe_id is None:
                return
            intent = await self._stripe.retrieve(record.stripe_id)
            if intent is not None and intent.status == "requires_action":
                intent = await self._cancel_waiting(intent)
            if intent is None:
                return
            if intent.status == "succeeded":
                # Charged, but the payer stopped before recording it (a crash): record it, then refund.
                log.warning("order %s: unrecorded charge %s found after cancellation", order_id, intent.id)
                found = PaymentRecord(new_id(), order_id, intent.id, intent.amount, self._clock())
                await self._store.add_payment(found, announce=False)
                stored = await self._store.payment_by_order(order_id)
                if stored is not None and not stored.refunded:
                    await self._refund(stored, lease)
            elif intent.status == "processing":
                # Cancelling does nothing to a processing intent and it may still succeed: look again later.
                raise StillProcessing(f"order {order_id}: PaymentIntent {intent.id} is still processing")
            else:
                await self._stripe.cancel(intent)  # it can never be charged for this order now

    async def _refund(self, payment: PaymentRecord, lease: Lease) -> PaymentRecord:
        await lease.renew()
        refund_id = await self._stripe.refund(payment.stripe_id, domain.refund_key(payment.stripe_id))
        refunded = await self._store.mark_refunded(payment.id, refund_id, self._clock())
        log.info("order %s: charge %s refunded (%s)", payment.order_id, payment.stripe_id, refund_id)
        return refunded

    # --- the lease ---

    @contextlib.asynccontextmanager
    async def _lease(self, order_id: str, wait_seconds: float, *, create: bool) -> AsyncIterator[Lease]:
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + wait_seconds
        while True:
            now = self._clock()
            until = now + dt.timedelta(seconds=self._lease_seconds)
            if await self._store.claim_lease(order_id, owner, now, until, create=create):
                break
            if time.monotonic() >= deadline:
                raise LeaseBusy(f"the payment lease of order {order_id} is taken")
            await asyncio.sleep(POLL_SECONDS)
        try:
            yield Lease(self._store, self._clock, order_id, owner, self._lease_seconds)
        finally:
            await self._store.release_lease(order_id, owner)
