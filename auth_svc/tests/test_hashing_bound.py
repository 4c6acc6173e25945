"""Password hashing is bounded: a flood of sign-ins queues briefly, then is refused, never exhausts memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest_asyncio
from google.rpc import error_details_pb2
from pymongo import AsyncMongoClient

from auth_svc.app import AuthApp
from auth_svc.settings import AuthSettings
from common.testing.grpc import error_reason, status_of
from common.testing.servers import RunningServer
from ticketstore.auth.v1 import auth_pb2, auth_pb2_grpc


@pytest_asyncio.fixture
async def narrow_auth(auth_settings: AuthSettings) -> AsyncIterator[auth_pb2_grpc.AuthServiceAsyncStub]:
    """auth_svc allowed one hash at a time, waiting at most 50 ms for it."""
    app = AuthApp(auth_settings.model_copy(update={"hash_concurrency": 1, "hash_queue_seconds": 0.05}))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.target) as channel:
            yield auth_pb2_grpc.AuthServiceStub(channel)
    finally:
        await app.stop()


async def test_a_flood_of_sign_ups_beyond_the_hashing_bound_is_refused_with_a_retry_delay(
    narrow_auth: auth_pb2_grpc.AuthServiceAsyncStub,
) -> None:
    results = await asyncio.gather(
        *(narrow_auth.SignUp(auth_pb2.SignUpRequest(email=f"flood{i}@example.com", password="correct horse"))
          for i in range(12)),
        return_exceptions=True,
    )  # fmt: skip
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert any(isinstance(r, auth_pb2.SignUpResponse) for r in results)
    assert refused, "12 concurrent hashes with one slot and a 50 ms queue must refuse some"
    for error in refused:
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(error) == "RATE_LIMITED"
        retry = error_details_pb2.RetryInfo()
        assert any(detail.Unpack(retry) for detail in status_of(error).details)
        assert retry.retry_delay.seconds >= 1


async def test_passwords_are_hashed_with_the_bounded_memory_cost(
    narrow_auth: auth_pb2_grpc.AuthServiceAsyncStub, mongo_server: RunningServer, mongo_db: str
) -> None:
    await narrow_auth.SignUp(auth_pb2.SignUpRequest(email="m@example.com", password="correct horse"))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.url)
    try:
        stored = await client[mongo_db]["users"].find_one({"email": "m@example.com"})
    finally:
        await client.close()
    assert stored is not None
    assert stored["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # 19 MiB, not the 64 MiB default
