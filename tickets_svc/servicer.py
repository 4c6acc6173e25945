"""The TicketsService gRPC API. Changes need a signed-in caller; reads are public (the listing is a shop window)."""

from __future__ import annotations

from typing import Any

import grpc

from common.grpc_edge import require_caller
from tickets_svc import domain
from tickets_svc.messages import ticket_message
from tickets_svc.operations import Tickets
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class TicketsServicer(tickets_pb2_grpc.TicketsServiceServicer):
    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    async def CreateTicket(
        self, request: tickets_pb2.CreateTicketRequest, context: Context
    ) -> tickets_pb2.CreateTicketResponse:
        caller = require_caller()
        ticket = await self._tickets.create(caller.user_id, request.title, request.price_cents)
        return tickets_pb2.CreateTicketResponse(ticket=ticket_message(ticket))

    async def UpdateTicket(
        self, request: tickets_pb2.UpdateTicketRequest, context: Context
    ) -> tickets_pb2.UpdateTicketResponse:
        caller = require_caller()
        ticket = await self._tickets.update(caller.user_id, request.id, request.title, request.price_cents)
        return tickets_pb2.UpdateTicketResponse(ticket=ticket_message(ticket))

    async def GetTicket(self, request: tickets_pb2.GetTicketRequest, context: Context) -> tickets_pb2.GetTicketResponse:
        return tickets_pb2.GetTicketResponse(ticket=ticket_message(await self._tickets.get(request.id)))

    async def BatchGetTickets(
        self, request: tickets_pb2.BatchGetTicketsRequest, context: Context
    ) -> tickets_pb2.BatchGetTicketsResponse:
        tickets = await self._tickets.get_many(list(request.ids))
        return tickets_pb2.BatchGetTicketsResponse(tickets=[ticket_message(t) for t in tickets])

    async def ListTickets(
        self, request: tickets_pb2.ListTicketsRequest, context: Context
    ) -> tickets_pb2.ListTicketsResponse:
        page, has_next_page = await self._tickets.list_available(request.page_size, request.after)
        edges = [tickets_pb2.TicketEdge(ticket=ticket_message(t), cursor=domain.encode_cursor(t)) for t in page]
        return tickets_pb2.ListTicketsResponse(edges=edges, has_next_page=has_next_page)
