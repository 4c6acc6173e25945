"""Per-request DataLoaders over the backends' batch RPCs: every `Order.ticket` of one request is one BatchGetTickets."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from gateway.clients import Backends
from gateway.types import Ticket
from ticketstore.tickets.v1 import tickets_pb2

MAX_BATCH = 500  # BatchGetTicketsRequest: at most 500 ids


def ticket_loader(backends: Backends, token: str | None, *, cache: bool = True) -> DataLoader[str, Ticket | None]:
    """Tickets by id (None for an unknown id). `cache=False` on a long-lived websocket, where tickets change."""

    async def load(ids: list[str]) -> Sequence[Ticket | None]:
        reply = await backends.call(
            backends.tickets.BatchGetTickets, tickets_pb2.BatchGetTicketsRequest(ids=list(dict.fromkeys(ids))), token
        )
        found = {ticket.id: Ticket.from_proto(ticket) for ticket in reply.tickets}
        return [found.get(ticket_id) for ticket_id in ids]

    return DataLoader(load_fn=load, max_batch_size=MAX_BATCH, cache=cache)
