"""Least privilege on the bus (common.natsauth), against a real nats-server started with the generated users: each
process may publish only what it produces, the gateway nothing at all, and nobody gets in without a password."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.errors import NoServersError

from common import events, natsauth
from common.bus import EventBus
from common.runtime import Runtime
from common.settings import ConfigurationError, ServiceSettings
from common.testing import servers
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.servers import RunningServer
from ticketstore.events.v1 import payments_pb2


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The plugin's server without its check: every test here makes the server refuse something on purpose."""
    server = servers.start_nats(tmp_path_factory.mktemp("nats"), cleanup_dir=True)
    yield server
    server.stop()


FORGED_PAYMENT = payments_pb2.PaymentCreated(
    order_id="6b0000000000000000000000", stripe_id="pi_forged"
).SerializeToString()


@asynccontextmanager
async def connected_as(server: RunningServer, user: str) -> AsyncIterator[tuple[NatsClient, list[str]]]:
    """A client of `user` (with its inbox, as the process connects), and the errors the server sends it."""
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error).lower())

    client = await nats.connect(
        server.url_as(user), error_cb=on_error, allow_reconnect=False, **natsauth.connect_options(user, None, None)
    )
    try:
        yield client, errors
    finally:
        await client.close()


def violation(errors: list[str], action: str, subject: str) -> Callable[[], Awaitable[bool]]:
    """A probe: has the server refused `action` ("publish", "subscription") on `subject`?"""

    async def seen() -> bool:
        return refused(errors, action, subject)

    return seen


def refused(errors: list[str], action: str, subject: str) -> bool:
    return any(f"permissions violation for {action}" in e and f'"{subject.lower()}"' in e for e in errors)


async def stream_messages(bus: EventBus, stream: str) -> int:
    return int((await bus.js.stream_info(stream)).state.messages)


async def test_the_gateway_cannot_forge_a_payment(nats_server: RunningServer, bus: EventBus) -> None:
    async with connected_as(nats_server, "gateway") as (gateway, errors):
        await gateway.publish(events.PAYMENT_CREATED, FORGED_PAYMENT, headers={"Nats-Msg-Id": "forged"})
        await gateway.flush()
        await eventually(violation(errors, "publish", events.PAYMENT_CREATED), "the server to refuse the publish")
    assert await stream_messages(bus, "PAYMENTS") == 0
    # The same publish as the owner is stored: the refusal above is the gateway's user, not a broken stream.
    async with connected_as(nats_server, "payments_svc") as (payments, errors):
        await payments.jetstream().publish(events.PAYMENT_CREATED, FORGED_PAYMENT, timeout=5)
    assert await stream_messages(bus, "PAYMENTS") == 1


@pytest.mark.parametrize("call", ["purge_stream", "delete_stream"])
async def test_the_gateway_can_neither_purge_nor_delete_a_stream(
    nats_server: RunningServer, bus: EventBus, call: str
) -> None:
    await bus.publish_raw(events.ORDER_CREATED, b"", "order.created:o1:1")
    async with connected_as(nats_server, "gateway") as (gateway, errors):
        js = gateway.jetstream(timeout=1)
        with pytest.raises((NatsError, asyncio.TimeoutError)):  # the request is dropped: no answer comes
            await getattr(js, call)("ORDERS")
        api = f"$JS.API.STREAM.{call.removesuffix('_stream').upper()}.ORDERS"
        await eventually(violation(errors, "publish", api), "the server to refuse the call")
    assert await stream_messages(bus, "ORDERS") == 1


async def test_the_gateway_reads_only_the_live_subjects(nats_server: RunningServer) -> None:
    async with connected_as(nats_server, "gateway") as (gateway, errors):
        await gateway.subscribe("order.>")
        await gateway.subscribe(events.PAYMENT_CREATED)
        await gateway.subscribe("_INBOX.>")  # other processes' replies
        await gateway.flush()
        await eventually(violation(errors, "subscription", events.PAYMENT_CREATED), "payment.created refused")
        await eventually(violation(errors, "subscription", "_INBOX.>"), "the replies of others refused")
        assert not refused(errors, "subscription", "order.>")


async def test_a_service_cannot_publish_what_another_produces(nats_server: RunningServer, bus: EventBus) -> None:
    for name, user in natsauth.USERS.items():
        foreign = [stream for stream in events.STREAMS if stream not in user.owns]
        async with connected_as(nats_server, name) as (client, errors):
            for stream in foreign:
                subject = stream.subjects[0].replace(">", "forged")
                await client.publish(subject, b"forged")
            await client.flush()
            for stream in foreign:
                subject = stream.subjects[0].replace(">", "forged")
                await eventually(violation(errors, "publish", subject), f"{name} refused on {subject}")
    for stream in events.STREAMS:
        assert await stream_messages(bus, stream.name) == 0


async def test_orders_cannot_complete_its_own_order_by_forging_a_payment(
    nats_server: RunningServer, bus: EventBus
) -> None:
    async with connected_as(nats_server, "orders_svc") as (orders, errors):
        with pytest.raises((NatsError, asyncio.TimeoutError)):
            await orders.jetstream().publish(events.PAYMENT_CREATED, FORGED_PAYMENT, timeout=1)
        await eventually(violation(errors, "publish", events.PAYMENT_CREATED), "the server to refuse the publish")
    assert await stream_messages(bus, "PAYMENTS") == 0


@pytest.mark.parametrize("credentials", ["none", "wrong password", "another user's password"])
async def test_a_connection_without_the_right_password_is_refused(nats_server: RunningServer, credentials: str) -> None:
    host = nats_server.url.removeprefix("nats://")
    url = {
        "none": nats_server.url,
        "wrong password": f"nats://gateway:not-the-password@{host}",
        "another user's password": f"nats://payments_svc:{nats_server.credentials['gateway']}@{host}",
    }[credentials]
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error).lower())

    client = NatsClient()
    with pytest.raises((NoServersError, NatsError)):
        await client.connect(url, allow_reconnect=False, max_reconnect_attempts=0, error_cb=on_error)
    await client.close()  # the refused connection's socket
    assert any("authorization violation" in e for e in errors), errors


def test_prod_refuses_to_start_without_a_nats_password() -> None:
    with pytest.raises(ConfigurationError, match="NATS_PASSWORD must be set"):
        ServiceSettings(environment="prod", nats_url="nats://nats:4222").nats_credentials()
    given = ServiceSettings(environment="prod", nats_password="s3cret")  # type: ignore[arg-type]
    assert given.nats_credentials() == (None, "s3cret")  # the user defaults to the process's name
    assert "s3cret" not in repr(given)
    in_address = ServiceSettings(environment="prod", nats_url="nats://orders_svc:s3cret@nats:4222")
    assert in_address.nats_credentials() == (None, None)  # nats.connect takes them from the address


def test_a_prod_service_without_its_nats_password_stops_before_starting(jwt_keys: JwtKeys) -> None:
    settings = ServiceSettings(environment="prod", jwt_public_key_file=jwt_keys.public_key_file)
    with pytest.raises(ConfigurationError, match="NATS_PASSWORD must be set"):
        Runtime("orders_svc", settings)  # what `python -m orders_svc` builds first: it exits with that message
