"""The README's GraphiQL tour works as written, with a cookie session like GraphiQL in a browser."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from common.devstack import Stack
from tests.client import Client, GraphQLError, eventually
from tests.helpers import gateway_url

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parent.parent / "README.md"


def tour_operations() -> list[str]:
    text = README.read_text()
    block = text.split("## A short tour", 1)[1].split("```graphql", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if re.match(r"\s*(query|mutation|subscription)\b", line)]


async def test_readme_purchase_tour(live_stack: Stack, clients: list[Client]) -> None:
    browser = Client(gateway_url(live_stack), use_cookie=True)
    clients.append(browser)
    suffix = uuid.uuid4().hex[:8]
    ids: dict[str, str] = {}
    operations = tour_operations()
    assert [op.split()[0] for op in operations] == [
        "mutation", "mutation", "query", "subscription", "mutation", "mutation", "mutation", "query"
    ]  # fmt: skip
    results = []
    for written in operations:
        operation = written.replace("@example.com", f"+{suffix}@example.com")
        for placeholder, value in ids.items():
            operation = operation.replace(placeholder, value)
        if operation.startswith("subscription"):
            async with browser.subscribe(operation, {}) as live:
                results.append(await live.next())
            continue

        async def run(op: str = operation) -> dict:
            try:
                return await browser.execute(op)
            except GraphQLError as error:  # the order's replica learns of a new ticket through an event
                if error.code == "NOT_FOUND":
                    raise AssertionError(error) from error
                raise

        data = await eventually(run)
        results.append(data)
        if "createTicket" in data:
            ids["TICKET_ID"] = data["createTicket"]["id"]
        if "createOrder" in data:
            ids["ORDER_ID"] = data["createOrder"]["id"]
    assert results[3]["ticketStatus"]["status"] == "AVAILABLE"
    assert results[6]["payOrder"]["amountCents"] == 15000

    async def sold() -> None:
        final = await browser.execute(operations[-1])
        assert final["me"]["email"] == f"buyer+{suffix}@example.com"
        assert [(o["status"], o["ticket"]["status"]) for o in final["myOrders"]] == [("COMPLETE", "SOLD")]

    await eventually(sold)
