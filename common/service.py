"""Running a service process: logging, start, wait for SIGTERM/SIGINT, graceful stop. Used by every `__main__`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from common import logs
from common.grpc_server import wait_for_stop_signal
from common.settings import ConfigurationError

log = logging.getLogger(__name__)


class ServiceApp(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class HasLogLevel(Protocol):
    @property
    def log_level(self) -> str: ...


S = TypeVar("S", bound=HasLogLevel)


def run(name: str, settings: S, make_app: Callable[[S], ServiceApp]) -> None:
    """`python -m <name>`: build the app from settings, start it, stop it gracefully on SIGTERM/SIGINT."""
    logs.configure(settings.log_level, name)

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
        log.info("%s: stopped", name)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(main())
