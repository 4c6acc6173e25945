"""The framework ceiling: the gateway process exactly as `python -m gateway` runs it (uvicorn + uvloop, the same ASGI
view, context factory, extensions and parser/validation caches), but with a schema whose only field returns a
constant, so `{ __typename }` measures Strawberry and the HTTP edge with no backend behind them.

Run as `python -m tests.bench.bare_app` with the gateway's environment (GATEWAY_PORT, NATS_URL, ...).
"""

from __future__ import annotations

import runpy

import strawberry

import gateway.app
from gateway.schema import GatewaySchema, build_schema
from gateway.settings import GatewaySettings


@strawberry.type
class BareQuery:
    @strawberry.field
    def ok(self) -> bool:
        return True


def bare_schema(settings: GatewaySettings) -> GatewaySchema:
    """The gateway's own schema settings (config and extension factories) around a trivial query type."""
    full = build_schema(settings)
    return GatewaySchema(query=BareQuery, config=full.config, extensions=full.extensions)


def main() -> None:
    gateway.app.build_schema = bare_schema  # type: ignore[attr-defined]  # what GatewayApp builds its view on; everything else is unchanged
    runpy.run_module("gateway", run_name="__main__", alter_sys=True)  # exactly what `python -m gateway` runs


if __name__ == "__main__":
    main()
