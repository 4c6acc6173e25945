"""`python -m gateway`: serve the GraphQL API on GATEWAY_HOST:GATEWAY_PORT until SIGTERM/SIGINT."""

import gc

from common.service import run
from gateway.app import GatewayApp
from gateway.settings import GatewaySettings

# Every request and every subscription event allocates thousands of short-lived objects (GraphQL execution, JSON,
# frames). With the interpreter's default young-generation threshold (700) many are still alive when a collection
# runs, get promoted, and make full collections frequent; each full collection scans every live object (about 0.4 s
# with 1,000 websocket subscribers). A larger young generation lets them die young; the start-up heap (modules,
# types) is frozen out of every scan. Measured in docs/BENCHMARKS.md ("Profile and improvement").
YOUNG_GENERATION_THRESHOLD = 10_000


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)


if __name__ == "__main__":
    tune_gc()
    run("gateway", GatewaySettings(), GatewayApp)
