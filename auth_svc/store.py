"""User storage in the auth database. The email's uniqueness is a unique index, not a read-then-write check.

users         {_id, email (unique), password_hash, created_at}
revocations   {_id: token id, user_id, expires_at}   signed-out sessions, each with its `session.revoked` event
outbox        pending events (common.outbox)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from common import events
from common.mongo import Database, Document, Session
from common.outbox import Outbox
from common.timestamps import to_timestamp
from ticketstore.events.v1 import sessions_pb2


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    password_hash: str
    created_at: dt.datetime


def _record(document: Document) -> UserRecord:
    return UserRecord(document["_id"], document["email"], document["password_hash"], document["created_at"])


class UserStore:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str, outbox: Callable[[], Outbox]) -> None:
        database = Database(client, db_name)
        self._users = database.collection("users", times=["created_at"])
        self._revocations = database.collection("revocations", times=["expires_at"])
        self._outbox = outbox  # a getter: the runtime's outbox exists once the bus is connected

    async def ensure_indexes(self) -> None:
        await self._users.create_index("email", unique=True)

    async def add(self, user: UserRecord) -> bool:
        """Store a new user; False when the email is already registered."""
        document = {
            "_id": user.id,
            "email": user.email,
            "password_hash": user.password_hash,
            "created_at": user.created_at,
        }
        try:
            await self._users.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def by_email(self, email: str) -> UserRecord | None:
        document = await self._users.find_one({"email": email})
        return None if document is None else _record(document)

    async def by_ids(self, ids: list[str]) -> list[UserRecord]:
        return [_record(d) async for d in self._users.find({"_id": {"$in": ids}})]

    async def revoke(self, token_id: str, user_id: str, expires_at: dt.datetime) -> None:
        """Record a sign-out and its `session.revoked` event in one transaction (a second sign-out does nothing)."""
        if await self._revocations.find_one({"_id": token_id}) is not None:
            return
        event = sessions_pb2.SessionRevoked(token_id=token_id, user_id=user_id, expire_time=to_timestamp(expires_at))

        async def work(session: Session) -> None:
            document = {"_id": token_id, "user_id": user_id, "expires_at": expires_at}
            await self._revocations.insert_one(document, session=session)
            await self._outbox().add(session, events.SESSION_REVOKED, event, token_id, None)

        try:
            await self._outbox().transaction(work)
        except DuplicateKeyError:
            return  # signed out twice at the same moment: one record, one event
