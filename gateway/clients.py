"""The gateway's gRPC clients: one long-lived channel per backend, opened at start-up and closed at shutdown.

Each channel spreads its calls over every address its target resolves to (gRPC client-side `round_robin`): on
Kubernetes the target is a headless Service, `dns:///tickets:50052`, which resolves to every ready pod, so one
gateway pod uses all backend pods rather than the one its single HTTP/2 connection to a ClusterIP would reach. A
comma-separated list of IPv4 `host:port` works too (`127.0.0.1:50052,127.0.0.1:50062`).

`Backends.call(...)` is the one way resolvers reach a service: it forwards the caller's session token as
`authorization: Bearer <token>` metadata, applies a deadline, and turns a failed call into an `ApiError`.
Every call is counted per method (`Backends.calls`), which the tests use to prove batching, and carries the trace
context (common.tracing.call_metadata). The channels have no interceptors unless spans are exported: in grpc.aio
every interceptor puts each call through a slower intercepted-call path (measured in docs/OPERATIONS.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import tracing
from gateway.errors import ApiError, Code, from_rpc_error
from gateway.settings import GatewaySettings
from ticketstore.auth.v1 import auth_pb2_grpc
from ticketstore.orders.v1 import orders_pb2_grpc
from ticketstore.payments.v1 import payments_pb2_grpc
from ticketstore.tickets.v1 import tickets_pb2_grpc

log = logging.getLogger(__name__)
R = TypeVar("R", bound=Message)
SERVING = health_pb2.HealthCheckResponse.SERVING
MAX_TOKEN_LENGTH = 4_096  # our tokens are about 400 characters


# round_robin: one subchannel per resolved address, calls spread over the READY ones; client health checking takes a
# backend that reports NOT_SERVING (it does so first when stopping) out of the rotation. A read that races a replica's
# stop (accepted, then cancelled by its shutdown) is retried on another: reads are idempotent, writes never retried.
READS = {
    "ticketstore.auth.v1.AuthService": ("GetCurrentUser", "BatchGetUsers"),
    "ticketstore.orders.v1.OrdersService": ("GetOrder", "BatchGetOrders", "ListMyOrders"),
    "ticketstore.payments.v1.PaymentsService": ("GetPayment",),
    "ticketstore.tickets.v1.TicketsService": ("GetTicket", "BatchGetTickets", "ListTickets"),
}
SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": ""},
    "methodConfig": [{
        "name": [{"service": service, "method": method} for service, methods in READS.items() for method in methods],
        "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "0.5s", "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"]},
    }],
})  # fmt: skip
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.service_config", SERVICE_CONFIG),
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),  # notice new pods soon after a re-resolution is due
]


def channel_target(target: str) -> str:
    """A gRPC target URI: `dns:///name:port` and other URIs as they are; a comma-separated address list becomes
    the `ipv4:` list gRPC expects (one address per backend replica)."""
    if "," in target and ":///" not in target and not target.startswith(("ipv4:", "ipv6:")):
        return "ipv4:" + ",".join(part.strip() for part in target.split(","))
    return target


@dataclass(frozen=True)
class Backend:
    name: str
    target: str
    channel: grpc.aio.Channel


class Backends:
    def __init__(self, settings: GatewaySettings) -> None:
        self._timeout = settings.grpc_timeout_seconds
        self._readiness_timeout = settings.readiness_timeout_seconds
        self.calls: Counter[str] = Counter()
        targets = {
            "auth": settings.auth_grpc_target,
            "tickets": settings.tickets_grpc_target,
            "orders": settings.orders_grpc_target,
            "payments": settings.payments_grpc_target,
        }
        interceptors: Any = tracing.client_interceptors() or None  # grpc-stubs types interceptors as "cast me"
        self.backends = {
            name: Backend(
                name,
                target,
                grpc.aio.insecure_channel(channel_target(target), options=CHANNEL_OPTIONS, interceptors=interceptors),
            )
            for name, target in targets.items()
        }
        self.auth = auth_pb2_grpc.AuthServiceStub(self.backends["auth"].channel)
        self.tickets = tickets_pb2_grpc.TicketsServiceStub(self.backends["tickets"].channel)
        self.orders = orders_pb2_grpc.OrdersServiceStub(self.backends["orders"].channel)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(self.backends["payments"].channel)

    async def close(self) -> None:
        for backend in self.backends.values():
            await backend.channel.close(grace=None)

    async def call(
        self,
        rpc: Callable[..., Awaitable[R]],
        request: Message,
        token: str | None,
        renames: Mapping[str, str] | None = None,
    ) -> R:
        """`rpc(request)` as the caller whose session `token` is; failures become `ApiError`s."""
        if token and len(token) > MAX_TOKEN_LENGTH:  # gRPC would refuse metadata this large (an INTERNAL error)
            raise ApiError(Code.UNAUTHENTICATED, "invalid session token")
        method = _method_name(rpc)
        self.calls[method] += 1
        metadata = tracing.call_metadata()
        if token:
            metadata = (("authorization", f"Bearer {token}"), *metadata)
        try:
            # wait_for_ready: a backend that is restarting gets the whole deadline to come back, not one failed try
            return await rpc(request, metadata=metadata, timeout=self._timeout, wait_for_ready=True)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, method, renames) from None
        except ApiError:
            raise
        except Exception:  # e.g. a serialization bug: masked for the client, logged in full here
            log.exception("calling %s failed", method)
            raise ApiError.internal() from None

    async def health(self) -> dict[str, str]:
        """Each backend's grpc.health.v1 status for the whole server ("" service), or why it has none."""

        async def check(backend: Backend) -> str:
            try:
                reply = await health_pb2_grpc.HealthStub(backend.channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=self._readiness_timeout
                )
            except grpc.aio.AioRpcError as error:
                return error.code().name
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

        names = list(self.backends)
        statuses = await asyncio.gather(*(check(self.backends[name]) for name in names))
        return dict(zip(names, statuses, strict=True))


def _method_name(rpc: Any) -> str:
    method = getattr(rpc, "_method", None)
    if isinstance(method, bytes):
        return method.decode()
    return str(method or getattr(rpc, "__name__", "rpc"))
