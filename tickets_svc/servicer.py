"""The TicketsService gRPC API. Changes need a signed-in caller; reads are public (the listing is a shop window)."""

from __future__ import annotations

from typing import Any

import grpc

from common import paging
from common.errors import NotFound
from common.grpc_edge import require_caller
from common.ids import check_id, new_id
from common.timestamps import utcnow
from tickets_svc import domain
from tickets_svc.messages import ticket_message
from tickets_svc.store import TicketStore
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class TicketsServicer(tickets_pb2_grpc.TicketsServiceServicer):
    def __init__(self, store: TicketStore) -> None:
        self._store = store

    async def CreateTicket(
        self, request: tickets_pb2.CreateTicketRequest, context: Context
    ) -> tickets_pb2.CreateTicketResponse:
        caller = require_caller()
        data = domain.validate_ticket_input(request.title, request.price_cents)
        ticket = await self._store.create(domain.new_ticket(new_id(), caller.user_id, data, utcnow()))
        return tickets_pb2.CreateTicketResponse(ticket=ticket_message(ticket))

    async def UpdateTicket(
        self, request: tickets_pb2.UpdateTicketRequest, context: Context
    ) -> tickets_pb2.UpdateTicketResponse:
        caller = require_caller()
        ticket_id, data = domain.validate_update(request.id, request.title, request.price_cents)
        ticket = await self._store.update(
            ticket_id, lambda current: domain.updated_ticket(current, caller.user_id, data, utcnow())
        )
        return tickets_pb2.UpdateTicketResponse(ticket=ticket_message(ticket))

    async def GetTicket(self, request: tickets_pb2.GetTicketRequest, context: Context) -> tickets_pb2.GetTicketResponse:
        ticket = await self._store.get(check_id(request.id, "id"))
        if ticket is None:
            raise NotFound("no such ticket")
        return tickets_pb2.GetTicketResponse(ticket=ticket_message(ticket))

    async def BatchGetTickets(
        self, request: tickets_pb2.BatchGetTicketsRequest, context: Context
    ) -> tickets_pb2.BatchGetTicketsResponse:
        tickets = await self._store.get_many(paging.batch_ids(request.ids))
        return tickets_pb2.BatchGetTicketsResponse(tickets=[ticket_message(t) for t in tickets])

    async def ListTickets(
        self, request: tickets_pb2.ListTicketsRequest, context: Context
    ) -> tickets_pb2.ListTicketsResponse:
        size = domain.page_size(request.page_size)
        after = domain.decode_cursor(request.after) if request.after else None
        found = await self._store.list_available(size + 1, after)  # one more tells whether a next page exists
        page = found[:size]
        edges = [tickets_pb2.TicketEdge(ticket=ticket_message(t), cursor=domain.encode_cursor(t)) for t in page]
        return tickets_pb2.ListTicketsResponse(edges=edges, has_next_page=len(found) > size)
