"""Helpers of the end-to-end tests (fixtures live in conftest.py): the whole stack as subprocesses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from common.devstack import Stack

ORDER_WINDOW_SECONDS = 60


def start_stack(data_dir: Path, order_window: int) -> Stack:
    """The stack as `make dev` starts it (first-run files, servers, services), on free ports, in test mode."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"MONGO_URL", "NATS_URL", "REDIS_URL", "STRIPE_API_BASE", "JWT_PRIVATE_KEY_FILE",
                          "JWT_PUBLIC_KEY_FILE"}}  # fmt: skip
    env.update({
        "ENVIRONMENT": "test",
        "ORDER_EXPIRATION_SECONDS": str(order_window),
        "GRACE_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    })  # fmt: skip
    stack = Stack.on_free_ports(data_dir, env)
    stack.prepare()
    stack.start_infrastructure()
    stack.start_services()
    return stack


def gateway_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports['gateway']}"


async def stripe_refunds(stack: Stack, intent_id: str) -> list[dict[str, Any]]:
    """The refunds of PaymentIntent `intent_id`, as the stack's Stripe emulator holds them."""
    async with httpx.AsyncClient(base_url=stack.env["STRIPE_API_BASE"], timeout=10) as stripe:
        response = await stripe.get(
            "/v1/refunds",
            params={"payment_intent": intent_id},
            auth=(stack.service_env()["STRIPE_API_KEY"], ""),
        )
    response.raise_for_status()
    refunds: list[dict[str, Any]] = response.json()["data"]
    return refunds
