from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from auth_svc.app import AuthApp
from auth_svc.settings import AuthSettings
from common.testing.plugin import JwtKeys
from common.testing.servers import RunningServer
from ticketstore.auth.v1 import auth_pb2_grpc


@pytest.fixture
def auth_settings(
    mongo_server: RunningServer, mongo_db: str, nats_server: RunningServer, jwt_keys: JwtKeys
) -> AuthSettings:
    return AuthSettings(
        environment="test",
        grpc_port=0,
        mongo_url=mongo_server.url,
        mongo_db=mongo_db,
        nats_url=nats_server.url_as("auth_svc"),
        jwt_private_key_file=jwt_keys.private_key_file,
        jwt_public_key_file=jwt_keys.public_key_file,
        grace_seconds=1,
    )


@pytest_asyncio.fixture
async def auth_app(auth_settings: AuthSettings) -> AsyncIterator[AuthApp]:
    app = AuthApp(auth_settings)
    await app.start()
    yield app
    await app.stop()


@pytest_asyncio.fixture
async def auth(auth_app: AuthApp) -> AsyncIterator[auth_pb2_grpc.AuthServiceAsyncStub]:
    async with grpc.aio.insecure_channel(auth_app.target) as channel:
        yield auth_pb2_grpc.AuthServiceStub(channel)
