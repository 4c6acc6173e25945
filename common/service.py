"""Running a process: logging, metrics, tracing, start, wait for SIGTERM/SIGINT, graceful stop. Used by every
`__main__`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

import uvloop

from common import logs, metrics, tracing
from common.grpc_server import wait_for_stop_signal
from common.settings import ConfigurationError, ProcessSettings

log = logging.getLogger(__name__)


class ServiceApp(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=ProcessSettings)


def run(name: str, settings: S, make_app: Callable[[S], ServiceApp]) -> None:
    """`python -m <name>`: build the app from settings, start it, stop it gracefully on SIGTERM/SIGINT."""
    logs.configure(settings.log_level, name, json_lines=settings.json_logs)
    tracing.configure(name)
    metrics.configure(settings.metrics_port, settings.metrics_host)  # before the app: it decides what is installed

    async def main() -> None:
        try:
            app = make_app(settings)
        except ConfigurationError as error:
            log.error("%s cannot start: %s", name, error)
            raise SystemExit(2) from None
        await app.start()
        await wait_for_stop_signal()
        log.info("%s: stopping", name)
        await app.stop()
        tracing.shutdown()
        log.info("%s: stopped", name)

    uvloop.run(main())
