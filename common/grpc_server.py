"""gRPC server bootstrap shared by every service: health, reflection, tracing, metrics, the edge interceptor,
graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from common import metrics, tracing
from common.grpc_edge import EdgeInterceptor
from common.tokens import TokenVerifier

log = logging.getLogger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def keepalive_policy(min_ping_interval_seconds: float) -> list[tuple[str, int]]:
    """Which keepalive pings a server accepts (gRPC core's doc/keepalive.md). Clients (the gateway) ping idle
    connections to find dead ones, also with no call in flight (its health-check stream is always open). gRPC's
    defaults take a ping less than 5 minutes after the last as a strike and answer the third with GOAWAY
    "too_many_pings", failing every call in flight: here a ping is fine once `min_ping_interval_seconds` passed."""
    return [
        ("grpc.keepalive_permit_without_calls", 1),
        # GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS is this string ("min_recv_..." is silently ignored)
        ("grpc.http2.min_ping_interval_without_data_ms", round(min_ping_interval_seconds * 1000)),
    ]


class GrpcServer:
    """One grpc.aio server. `start()` binds (port 0 picks a free port); `stop()` drains gracefully.

    `register(server)` adds the servicers; `service_names` are their full names, for health and reflection. Clients
    may ping an idle connection every `min_ping_interval_seconds` (`keepalive_policy`).
    """

    def __init__(
        self,
        register: Callable[[grpc.aio.Server], None],
        service_names: Sequence[str],
        verifier: TokenVerifier,
        host: str,
        port: int,
        min_ping_interval_seconds: float = 10.0,
    ) -> None:
        self._server = grpc.aio.server(
            # Outermost first: the trace span and the metrics see the final status the edge sets.
            interceptors=[*tracing.server_interceptors(), *metrics.server_interceptors(), EdgeInterceptor(verifier)],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", 4 * 1024 * 1024),
                *keepalive_policy(min_ping_interval_seconds),
            ],
        )
        register(self._server)
        self._health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._names = list(service_names)
        reflection.enable_server_reflection([*self._names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                             reflection.SERVICE_NAME], self._server)  # fmt: skip
        self._address = f"{host}:{port}"
        self.port = 0
        self._serving = False
        self._tasks_healthy = True

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> int:
        self.port = self._server.add_insecure_port(self._address)
        if self.port == 0:
            raise RuntimeError(f"cannot bind gRPC server to {self._address}")
        await self._server.start()
        self._serving = True
        await self._set_all(SERVING if self._tasks_healthy else NOT_SERVING)
        log.info("gRPC serving %s on port %d", ", ".join(self._names) or "health checks", self.port)
        return self.port

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING first (so load balancers stop sending), then let in-flight calls finish."""
        self._serving = False
        await self._set_all(NOT_SERVING)
        await self._server.stop(grace)

    async def set_tasks_healthy(self, healthy: bool) -> None:
        """The process's background tasks are all running (SERVING) or one is down (NOT_SERVING)."""
        self._tasks_healthy = healthy
        if self._serving:
            await self._set_all(SERVING if healthy else NOT_SERVING)

    async def wait(self) -> None:
        await self._server.wait_for_termination()

    async def _set_all(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        for name in ("", *self._names):
            await self._health.set(name, status)


async def wait_for_stop_signal() -> None:
    """Returns on the first SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
