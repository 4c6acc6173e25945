"""User storage in the auth database. The email's uniqueness is a unique index, not a read-then-write check.

users   {_id, email (unique), password_hash, created_at}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from common.mongo import Database, Document


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    password_hash: str
    created_at: dt.datetime


def _record(document: Document) -> UserRecord:
    return UserRecord(document["_id"], document["email"], document["password_hash"], document["created_at"])


class UserStore:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str) -> None:
        self._users = Database(client, db_name).collection("users", times=["created_at"])

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
