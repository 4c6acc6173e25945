"""Client-side load balancing: one gateway target naming two replicas of tickets_svc (as a headless Service's DNS
name does on Kubernetes); calls are spread over both, and stopping one loses no call."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from common.testing.retry import FAST_RETRY
from gateway.clients import Backends, channel_target
from gateway.tests.helpers import GraphQLClient, Stack
from tickets_svc.app import TicketsApp
from ticketstore.tickets.v1 import tickets_pb2


def test_targets_become_grpc_uris() -> None:
    assert channel_target("dns:///tickets:50052") == "dns:///tickets:50052"
    assert channel_target("127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert channel_target("ipv4:127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert channel_target("tickets:50052") == "tickets:50052"


def count_reads(app: TicketsApp, name: str, served: Counter[str]) -> None:
    """Counts the ticket reads this replica serves (its store is what GetTicket reads through)."""
    read = app.store.get

    async def counted(ticket_id: str) -> Any:
        served[name] += 1
        return await read(ticket_id)

    app.store.get = counted  # type: ignore[method-assign]


async def test_two_replicas_behind_one_target_both_serve_and_one_stopping_loses_no_call(
    stack: Stack, clients: Callable[[], GraphQLClient]
) -> None:
    seller = clients()
    await seller.sign_up()
    ticket = await seller.create_ticket()
    settings = stack.services["tickets"].runtime.settings.model_copy(update={"grpc_port": 0})
    replicas = {name: TicketsApp(settings, retry=FAST_RETRY) for name in ("a", "b")}
    served: Counter[str] = Counter()
    for name, replica in replicas.items():
        count_reads(replica, name, served)
        await replica.start()
    backends = Backends(stack.settings(tickets_grpc_target=",".join(r.target for r in replicas.values())))
    stopped = False
    try:

        async def read() -> str:
            reply = await backends.call(backends.tickets.GetTicket, tickets_pb2.GetTicketRequest(id=ticket["id"]), None)
            return reply.ticket.id

        assert [await read() for _ in range(20)] == [ticket["id"]] * 20
        assert served["a"] >= 5 and served["b"] >= 5, served  # round robin: both replicas serve

        async def reader(calls: int) -> list[str]:
            return [await read() for _ in range(calls)]

        readers: list[Awaitable[list[str]]] = [reader(40) for _ in range(8)]
        during = asyncio.gather(*readers)
        await asyncio.sleep(0.05)
        await replicas["a"].stop()  # graceful: its in-flight calls finish, new ones go to b
        stopped = True
        results = await during
        assert all(result == [ticket["id"]] * 40 for result in results)  # every call answered, none lost
        after_a = served["a"]
        await reader(10)
        assert served["a"] == after_a  # the stopped replica left the rotation
    finally:
        await backends.close()
        for name, replica in replicas.items():
            if name != "a" or not stopped:
                await replica.stop()
