"""OpenTelemetry traces of every process: gRPC calls (client and server), GraphQL operations, outbox publishes and
consumed events, joined into one trace by W3C trace context in gRPC metadata and NATS message headers.

`configure(service)` runs once per process (common.service.run). With OTEL_EXPORTER_OTLP_ENDPOINT set, spans are
exported over OTLP/gRPC in batches (the standard OTEL_* variables tune the exporter and the batching). Without it
nothing is recorded or exported (sampler off), but trace ids are still made and passed on, so the log lines of one
request carry the same trace id in every process. A process that never calls `configure` (in-process tests) uses
OpenTelemetry's no-op default.

OTEL_SDK_DISABLED=true (OpenTelemetry's own switch) removes tracing altogether: no interceptors on the gRPC servers
and channels, no span per operation or message, no trace context sent on, no trace ids in the logs. For operators
who want zero cost, and for measuring what tracing costs (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor, filters
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

CONTEXT_HEADERS = ("traceparent", "tracestate")  # W3C trace context
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACER = trace.get_tracer("ticketstore")  # a proxy: it uses whatever provider `configure` installs later
_OURS = filters.service_prefix("ticketstore.")  # health checks and reflection are not traced
_IDS = RandomIdGenerator()  # the SDK's own, for spans that nothing records (root_span)


def enabled() -> bool:
    """False when OTEL_SDK_DISABLED=true: nothing of tracing is installed or run."""
    return _switches()[0]


def exporting() -> bool:
    """Whether spans are exported (an OTLP endpoint is set)."""
    return _switches()[1]


@functools.cache
def _switches() -> tuple[bool, bool]:
    """(enabled, exporting) from the environment, read once: it does not change while a process runs, and reading
    it on every call cost each GraphQL operation and backend call more than the rest of its tracing."""
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled, any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def reread_environment() -> None:
    """Read OTEL_SDK_DISABLED and the exporter endpoint again (`configure` does; so do tests that change them)."""
    _switches.cache_clear()


def configure(service: str) -> TracerProvider:
    """Install this process's tracer provider (service.name = `service`)."""
    reread_environment()
    resource = Resource.create({"service.name": service})
    if exporting():
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: PLC0415 (only when used)

        provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER, parent-based by default
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    trace.set_tracer_provider(provider)
    return provider


def shutdown() -> None:
    """Export what is still buffered (bounded by the exporter's timeout)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def server_interceptors() -> list[Any]:
    """The grpc.aio server interceptor of opentelemetry-instrumentation-grpc (a span per call of our services) when
    spans are exported; otherwise none, and `continued()` makes the caller's trace current instead."""
    if not (enabled() and exporting()):
        return []
    return [aio_server_interceptor(filter_=_OURS)]  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def continued(metadata: Any) -> Iterator[None]:
    """The caller's trace (the `traceparent` in a call's metadata) as the current context while a call is served,
    where no server interceptor does it (not exporting): log lines and the events the call writes keep its id."""
    if not enabled() or exporting():
        yield
        return
    incoming = {key: value for key, value in metadata or () if key in CONTEXT_HEADERS and isinstance(value, str)}
    if not incoming:
        yield
        return
    token = otel_context.attach(propagate.extract(incoming))
    try:
        yield
    finally:
        otel_context.detach(token)


def root_span(name: str) -> Span:
    """A new trace's root span (the gateway's per operation), not yet current. Not exporting, nothing would record
    it: a bare span context with fresh ids is all that is needed (its trace id goes to the backends and the logs),
    without the SDK's sampling path, which cost a GraphQL operation several times more."""
    if exporting():
        return TRACER.start_span(name, kind=SpanKind.SERVER)
    if not enabled():
        return INVALID_SPAN
    context = SpanContext(trace_id=_IDS.generate_trace_id(), span_id=_IDS.generate_span_id(), is_remote=False,
                          trace_flags=TraceFlags(TraceFlags.DEFAULT))  # fmt: skip
    return NonRecordingSpan(context)


def client_interceptors() -> list[Any]:
    """The grpc.aio client interceptors of opentelemetry-instrumentation-grpc (a span per call, context sent) when
    spans are exported; otherwise none. Without an exporter their spans record nothing, and an interceptor costs
    every call grpc.aio's slower intercepted path: `call_metadata()` then sends the trace context instead."""
    if not (enabled() and exporting()):
        return []
    return list(aio_client_interceptors(filter_=_OURS))  # type: ignore[no-untyped-call]


def call_metadata() -> tuple[tuple[str, str], ...]:
    """The trace context as gRPC metadata, for a call on a channel without `client_interceptors()` (they send it
    themselves)."""
    if not enabled() or exporting():
        return ()
    # The W3C `traceparent` written directly: the propagators' generic path (a dict, the composite of trace
    # context and baggage) cost more than the call's other metadata. Nothing here sets baggage or trace state.
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return ()
    return (("traceparent", f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"),)


def carrier() -> dict[str, str]:
    """The current trace context as headers (`traceparent`...); empty outside any span or when disabled."""
    headers: dict[str, str] = {}
    if not enabled():
        return headers
    propagate.inject(headers)
    return headers


def trace_id() -> str:
    """The current trace id (32 hex digits), or "" outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


@contextlib.contextmanager
def publish_span(subject: str, headers: Mapping[str, str] | None) -> Iterator[Span]:
    """The span of one outbox publish, continuing the trace stored with the event (`headers`)."""
    if not enabled():
        yield INVALID_SPAN
        return
    parent = propagate.extract(dict(headers or {}))
    with TRACER.start_as_current_span(f"{subject} publish", context=parent, kind=SpanKind.PRODUCER,
                                      attributes=_messaging(subject)) as span:  # fmt: skip
        yield span


@contextlib.contextmanager
def consume_span(subject: str, headers: Mapping[str, str] | None, consumer: str, attempt: int) -> Iterator[Span]:
    """The span of one delivery to a consumer, a child of the publish that sent it."""
    if not enabled():
        yield INVALID_SPAN
        return
    parent = propagate.extract(dict(headers or {}))
    attributes = {
        **_messaging(subject),
        "messaging.consumer.group.name": consumer,
        "messaging.delivery.attempt": attempt,
    }
    with TRACER.start_as_current_span(f"{subject} process", context=parent, kind=SpanKind.CONSUMER,
                                      attributes=attributes) as span:  # fmt: skip
        yield span


def _messaging(subject: str) -> dict[str, Any]:
    return {"messaging.system": "nats", "messaging.destination.name": subject}


def context_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The trace context headers of a message, to copy onto another (e.g. its dead letter)."""
    return {name: headers[name] for name in CONTEXT_HEADERS if headers and name in headers}
