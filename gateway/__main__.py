"""`python -m gateway`: serve the GraphQL API on GATEWAY_HOST:GATEWAY_PORT until SIGTERM/SIGINT."""

from common.service import run
from gateway.app import GatewayApp
from gateway.settings import GatewaySettings

if __name__ == "__main__":
    run("gateway", GatewaySettings(), GatewayApp)
