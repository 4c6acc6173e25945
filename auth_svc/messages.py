"""Accounts as protobuf messages."""

from __future__ import annotations

from auth_svc.store import UserRecord
from common.timestamps import to_timestamp
from ticketstore.auth.v1 import auth_pb2


def user_message(user: UserRecord) -> auth_pb2.User:
    return auth_pb2.User(id=user.id, email=user.email, create_time=to_timestamp(user.created_at))
