"""The AuthService gRPC API: reads the request, runs the use case, answers with its result."""

from __future__ import annotations

from typing import Any

import grpc

from auth_svc.messages import user_message
from auth_svc.operations import Accounts
from common.grpc_edge import require_caller
from common.timestamps import to_timestamp
from ticketstore.auth.v1 import auth_pb2, auth_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    async def SignUp(self, request: auth_pb2.SignUpRequest, context: Context) -> auth_pb2.SignUpResponse:
        user, issued = await self._accounts.sign_up(request.email, request.password)
        return auth_pb2.SignUpResponse(
            user=user_message(user), token=issued.token, expire_time=to_timestamp(issued.expires_at)
        )

    async def SignIn(self, request: auth_pb2.SignInRequest, context: Context) -> auth_pb2.SignInResponse:
        user, issued = await self._accounts.sign_in(request.email, request.password)
        return auth_pb2.SignInResponse(
            user=user_message(user), token=issued.token, expire_time=to_timestamp(issued.expires_at)
        )

    async def SignOut(self, request: auth_pb2.SignOutRequest, context: Context) -> auth_pb2.SignOutResponse:
        await self._accounts.sign_out(require_caller())
        return auth_pb2.SignOutResponse()

    async def GetCurrentUser(
        self, request: auth_pb2.GetCurrentUserRequest, context: Context
    ) -> auth_pb2.GetCurrentUserResponse:
        user = await self._accounts.current_user(require_caller().user_id)
        return auth_pb2.GetCurrentUserResponse(user=user_message(user))

    async def BatchGetUsers(
        self, request: auth_pb2.BatchGetUsersRequest, context: Context
    ) -> auth_pb2.BatchGetUsersResponse:
        require_caller()
        users = await self._accounts.users(list(request.ids))
        return auth_pb2.BatchGetUsersResponse(users=[user_message(u) for u in users])
