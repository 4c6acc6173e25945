"""The AuthService gRPC API."""

from __future__ import annotations

from typing import Any

import grpc

from auth_svc import domain
from auth_svc.passwords import Passwords
from auth_svc.store import UserRecord, UserStore
from common import paging
from common.errors import Unauthenticated
from common.grpc_edge import require_caller
from common.timestamps import to_timestamp
from common.tokens import TokenIssuer
from ticketstore.auth.v1 import auth_pb2, auth_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
INVALID_CREDENTIALS = "invalid credentials"


def user_message(user: UserRecord) -> auth_pb2.User:
    return auth_pb2.User(id=user.id, email=user.email, create_time=to_timestamp(user.created_at))


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, store: UserStore, passwords: Passwords, issuer: TokenIssuer) -> None:
        self._store = store
        self._passwords = passwords
        self._issuer = issuer

    async def SignUp(self, request: auth_pb2.SignUpRequest, context: Context) -> auth_pb2.SignUpResponse:
        credentials = domain.validate_sign_up(request.email, request.password)
        user = await self._store.create(credentials.email, await self._passwords.hash(credentials.password))
        issued = self._issuer.issue(user.id, user.email)
        return auth_pb2.SignUpResponse(
            user=user_message(user), token=issued.token, expire_time=to_timestamp(issued.expires_at)
        )

    async def SignIn(self, request: auth_pb2.SignInRequest, context: Context) -> auth_pb2.SignInResponse:
        credentials = domain.validate_sign_in(request.email, request.password)
        user = await self._store.by_email(credentials.email)
        matches = await self._passwords.verify(None if user is None else user.password_hash, credentials.password)
        if user is None or not matches:
            raise Unauthenticated(INVALID_CREDENTIALS)
        issued = self._issuer.issue(user.id, user.email)
        return auth_pb2.SignInResponse(
            user=user_message(user), token=issued.token, expire_time=to_timestamp(issued.expires_at)
        )

    async def GetCurrentUser(
        self, request: auth_pb2.GetCurrentUserRequest, context: Context
    ) -> auth_pb2.GetCurrentUserResponse:
        caller = require_caller()
        users = await self._store.by_ids([caller.user_id])
        if not users:
            raise Unauthenticated("this account no longer exists")
        return auth_pb2.GetCurrentUserResponse(user=user_message(users[0]))

    async def BatchGetUsers(
        self, request: auth_pb2.BatchGetUsersRequest, context: Context
    ) -> auth_pb2.BatchGetUsersResponse:
        require_caller()
        users = await self._store.by_ids(paging.batch_ids(request.ids))
        return auth_pb2.BatchGetUsersResponse(users=[user_message(u) for u in users])
