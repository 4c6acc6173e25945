"""Running a service process: logging, start, wait for SIGTERM/SIGINT, graceful stop. Used by every `__main__`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from common import logs
from common.grpc_server import wait_for_stop_signal
from common.settings import ServiceSettings

log = logging.getLogger(__name__)


class ServiceApp(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=ServiceSettings)


def run(name: str, settings: S, build: Callable[[S], Awaitable[ServiceApp]]) -> None:
    logs.configure(settings.log_level, name)

    async def main() -> None:
        app = await build(settings)
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
