"""Prometheus metrics of every process: one registry per process, served on its own port (METRICS_PORT).

The metrics are defined here, once, and the code they measure updates them through a few narrow hooks (the gRPC
server interceptor below, the bus consumer, the outbox relay, the gateway's schema extension, the expiration
scheduler, the Stripe client). Values that must be asked for (consumer lag, outbox backlog, pending timers) are
sampled by one `Sampler` task per process. docs/OPERATIONS.md says which series matter and what to alert on.

A process started without METRICS_PORT (`configure(None, ...)`) has no endpoint to be scraped from, so it installs no
RPC interceptor and the gateway no per-operation hooks (`enabled()`): no cost for what nobody can read. The few
counters updated inline elsewhere (bus, outbox) still count; they cost a dictionary lookup each.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

import grpc
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

log = logging.getLogger(__name__)

# Per process (not prometheus_client's global one): what this process serves, and what its tests read.
REGISTRY = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # CPU, memory, GC of the process
    REGISTRY.register(_collector)

SAMPLE_SECONDS = 5.0  # how often sampled gauges are refreshed (about one scrape interval)
STOP_SECONDS = 5.0  # how long stopping waits for a sample in progress

# --- gateway ---
GRAPHQL_OPERATIONS = Counter(
    "ticketstore_graphql_operations", "GraphQL operations, by name, type and outcome code (OK or extensions.code)",
    ["operation", "type", "code"], registry=REGISTRY,
)  # fmt: skip
GRAPHQL_SECONDS = Histogram(
    "ticketstore_graphql_operation_seconds", "GraphQL operation latency", ["operation", "type"], registry=REGISTRY
)
LIVE_SUBSCRIPTIONS = Gauge("ticketstore_live_subscriptions", "GraphQL subscriptions now open", registry=REGISTRY)
WEBSOCKETS = Gauge("ticketstore_websocket_connections", "Websocket connections now open", registry=REGISTRY)

# --- gRPC servers (the names and labels of go-grpc-prometheus, which dashboards already know) ---
GRPC_HANDLED = Counter(
    "grpc_server_handled", "RPCs completed on the server, by method and status code",
    ["grpc_service", "grpc_method", "grpc_code"], registry=REGISTRY,
)  # fmt: skip
GRPC_SECONDS = Histogram(
    "grpc_server_handling_seconds", "RPC latency on the server", ["grpc_service", "grpc_method"], registry=REGISTRY
)

# --- event consumers ---
EVENTS_DELIVERED = Counter(
    "ticketstore_events_delivered", "Deliveries to a consumer, by outcome (applied, duplicate, early, failed, "
    "skipped, undecodable)", ["consumer", "subject", "outcome"], registry=REGISTRY,
)  # fmt: skip
EVENTS_REDELIVERED = Counter(
    "ticketstore_events_redelivered", "Deliveries after the first of a message", ["consumer", "subject"],
    registry=REGISTRY,
)  # fmt: skip
DEAD_LETTERS = Counter(
    "ticketstore_events_dead_lettered", "Messages moved to the dead-letter stream", ["consumer", "subject"],
    registry=REGISTRY,
)  # fmt: skip
HANDLER_SECONDS = Histogram(
    "ticketstore_event_handler_seconds", "Event handler latency", ["consumer", "subject"], registry=REGISTRY
)
CONSUMER_PENDING = Gauge(
    "ticketstore_consumer_pending", "Messages in the stream not yet delivered to the consumer (its lag)",
    ["consumer"], registry=REGISTRY,
)  # fmt: skip
CONSUMER_ACK_PENDING = Gauge(
    "ticketstore_consumer_ack_pending", "Messages delivered to the consumer and not yet acknowledged", ["consumer"],
    registry=REGISTRY,
)  # fmt: skip

# --- background tasks (common.supervisor) ---
TASK_RESTARTS = Gauge(
    "ticketstore_task_restarts", "Restarts of a background task since the process started (it crashed)", ["task"],
    registry=REGISTRY,
)  # fmt: skip

# --- outbox relay ---
OUTBOX_BACKLOG = Gauge(
    "ticketstore_outbox_backlog", "Events written and not yet published", ["service"], registry=REGISTRY
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "ticketstore_outbox_oldest_seconds", "Age of the oldest unpublished event (0 when none)", ["service"],
    registry=REGISTRY,
)  # fmt: skip
OUTBOX_PUBLISHED = Counter(
    "ticketstore_outbox_published", "Events the relay published", ["service", "subject"], registry=REGISTRY
)
OUTBOX_FAILURES = Counter(
    "ticketstore_outbox_publish_failures", "Relay rounds that failed to publish", ["service"], registry=REGISTRY
)
OUTBOX_RELAY_SECONDS = Histogram(
    "ticketstore_outbox_relay_seconds", "From an event's commit to the broker's acknowledgement", ["service"],
    registry=REGISTRY,
)  # fmt: skip

# --- expiration_svc ---
TIMERS_PENDING = Gauge("ticketstore_expiration_timers_pending", "Order timers not yet fired", registry=REGISTRY)
OVERDUE_MARGIN_SECONDS = 10.0  # a timer fires within a poll interval (0.25 s): 10 s late means something is wrong
TIMERS_OVERDUE = Gauge(
    "ticketstore_expiration_timers_overdue", "Timers due more than 10 s ago and not yet fired",
    registry=REGISTRY,
)  # fmt: skip
TIMERS_FIRED = Counter("ticketstore_expiration_timers_fired", "expiration.complete events published", registry=REGISTRY)

# --- payments_svc ---
STRIPE_CALLS = Counter(
    "ticketstore_stripe_calls", "Stripe API calls, by call and outcome (ok or the exception's type)",
    ["call", "outcome"], registry=REGISTRY,
)  # fmt: skip
STRIPE_SECONDS = Histogram("ticketstore_stripe_call_seconds", "Stripe API call latency", ["call"], registry=REGISTRY)


_enabled = True  # in-process tests count (they read REGISTRY); a process without METRICS_PORT does not


def enabled() -> bool:
    """Whether this process installs its metrics hooks (the RPC interceptor, the gateway's operation counts)."""
    return _enabled


def configure(port: int | None, host: str) -> int | None:
    """This process's metrics, once before its app is built (common.service.run): served on host:port (0: a free
    port), or with no port the metrics hooks turned off. Returns the port, or None."""
    global _enabled  # noqa: PLW0603 (one switch per process, set once at start-up)
    _enabled = port is not None
    return serve(port, host)


def serve(port: int | None, host: str) -> int | None:
    """Serve /metrics on host:port in a thread (None: off; 0: a free port). Returns the port, or None."""
    if port is None:
        return None
    server, _ = start_http_server(port, host, registry=REGISTRY)
    bound = int(server.server_port)
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return bound


# --- gRPC ---

Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


def server_interceptors() -> list[grpc.aio.ServerInterceptor[Any, Any]]:
    """The RPC metrics interceptor, or none when metrics are off."""
    return [RpcMetricsInterceptor()] if _enabled else []


class RpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Counts and times every unary-unary call by method and final status code."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        service, _, method = handler_call_details.method.strip("/").rpartition("/")
        return grpc.unary_unary_rpc_method_handler(
            _timed(cast(Behavior, handler.unary_unary), service, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@functools.cache  # bounded: only methods that have a handler get here
def _rpc_series(service: str, method: str) -> tuple[dict[grpc.StatusCode, Any], Any]:
    """A method's series, looked up once: `labels()` takes a lock and builds a key, 17 codes of it per call."""
    handled = {code: GRPC_HANDLED.labels(service, method, code.name) for code in grpc.StatusCode}
    return handled, GRPC_SECONDS.labels(service, method)


def _timed(inner: Behavior, service: str, method: str) -> Behavior:
    handled, seconds = _rpc_series(service, method)

    async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        try:
            reply = await inner(request, context)
            code = context.code() or grpc.StatusCode.OK
            return reply
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            seconds.observe(time.perf_counter() - started)
            handled[_status_code(code)].inc()

    return behavior


def _status_code(code: Any) -> grpc.StatusCode:
    """context.code() is a grpc.StatusCode, or its integer on some grpc versions."""
    if isinstance(code, grpc.StatusCode):
        return code
    return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)


# --- Stripe ---

P = ParamSpec("P")
R = TypeVar("R")


def stripe_call(call: str) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorates one Stripe call: counted by outcome (`ok` or the type of what it raised) and timed."""

    def decorate(function: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(function)
        async def observed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            outcome = "ok"
            try:
                return await function(*args, **kwargs)
            except Exception as error:
                outcome = type(error).__name__
                raise
            finally:
                STRIPE_SECONDS.labels(call).observe(time.perf_counter() - started)
                STRIPE_CALLS.labels(call, outcome).inc()

        return observed

    return decorate


# --- sampled values ---

Sample = Callable[[], Awaitable[None]]


class Sampler:
    """One task per process that refreshes the sampled gauges every `interval` seconds. A failing sample is logged
    (once until it works again) and never stops the others."""

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self._interval = interval
        self._samples: list[Sample] = []
        self._failing: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)

    def start(self) -> None:
        if self._samples and self._task is None:
            self._task = asyncio.create_task(self._run(), name="metrics-sampler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # A client library may swallow a cancellation that lands inside a sample (seen with a stop that then waited
        # forever): the loop also watches a flag, and the wait is bounded.
        self._stopping.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, STOP_SECONDS)

    async def sample_once(self) -> None:
        for index, sample in enumerate(list(self._samples)):
            try:
                await sample()
            except asyncio.CancelledError:
                raise
            except Exception:
                if index not in self._failing:
                    log.warning("sampling a metric failed; retrying every %.0f s", self._interval, exc_info=True)
                self._failing.add(index)
            else:
                self._failing.discard(index)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self.sample_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
