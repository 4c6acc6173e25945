"""`python -m gateway`: serve the GraphQL API on GATEWAY_HOST:GATEWAY_PORT until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

import uvloop

from common import logs
from common.grpc_server import wait_for_stop_signal
from gateway.app import GatewayApp
from gateway.settings import GatewaySettings

log = logging.getLogger("gateway")


def main() -> None:
    settings = GatewaySettings()
    logs.configure(settings.log_level, "gateway")

    async def serve() -> None:
        app = GatewayApp(settings)
        await app.start()
        await wait_for_stop_signal()
        log.info("gateway: stopping")
        await app.stop()
        log.info("gateway: stopped")

    uvloop.run(serve())


if __name__ == "__main__":
    main()
