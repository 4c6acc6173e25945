"""Production input rules (SPEC.md, issue 15 item 6): no control or text-direction characters in emails and titles,
ids validated exactly (a trailing newline is not a valid id)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from common.ids import new_id
from gateway.tests.helpers import CREATE_TICKET, SIGN_UP, GraphQLClient, Stack
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

Clients = Callable[[], GraphQLClient]


@pytest.mark.parametrize("email", ["evil\u202egro.example@x.io", "a\x07b@x.io", "a\u2066b@x.io", "a@x.io\x00"])
async def test_emails_with_control_or_bidi_characters_are_bad_input(clients: Clients, email: str) -> None:
    error = await clients().error(SIGN_UP, {"email": email, "password": "correct horse"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["email"]


@pytest.mark.parametrize("title", ["Concert \u202eexe.txt", "Bell\x07", "Line\nbreak", "Isolate\u2067x"])
async def test_titles_with_control_or_bidi_characters_are_bad_input(clients: Clients, title: str) -> None:
    client = clients()
    await client.sign_up()
    error = await client.error(CREATE_TICKET, {"title": title, "price": 1_000})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["title"]


async def test_a_title_in_another_script_with_emoji_is_fine(clients: Clients) -> None:
    client = clients()
    await client.sign_up()
    ticket = await client.create_ticket("مسرح 🎭 Théâtre")
    assert ticket["title"] == "مسرح 🎭 Théâtre"


async def test_an_id_with_a_trailing_newline_is_invalid(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(stack.services["tickets"].target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tickets_pb2_grpc.TicketsServiceStub(channel).GetTicket(
                tickets_pb2.GetTicketRequest(id=new_id() + "\n")
            )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
