"""User storage in the auth database. The email's uniqueness is a unique index, not a read-then-write check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from common.errors import AlreadyExists
from common.mongo import Document
from common.timestamps import utcnow


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
        self._users = client[db_name]["users"]

    async def ensure_indexes(self) -> None:
        await self._users.create_index("email", unique=True)

    async def create(self, email: str, password_hash: str) -> UserRecord:
        document = {
            "_id": str(ObjectId()),
            "email": email,
            "password_hash": password_hash,
            "created_at": utcnow(),
        }
        try:
            await self._users.insert_one(document)
        except DuplicateKeyError as exc:
            raise AlreadyExists("this email is already registered") from exc
        return _record(document)

    async def by_email(self, email: str) -> UserRecord | None:
        document = await self._users.find_one({"email": email})
        return None if document is None else _record(document)

    async def by_ids(self, ids: list[str]) -> list[UserRecord]:
        return [_record(d) async for d in self._users.find({"_id": {"$in": ids}})]
