"""The use cases of auth_svc, one per RPC: the account rules (domain), hashing, storage and token issuing."""

from __future__ import annotations

from auth_svc import domain
from auth_svc.passwords import Passwords
from auth_svc.store import UserRecord, UserStore
from common import paging
from common.clock import Clock
from common.errors import AlreadyExists, Unauthenticated
from common.ids import new_id
from common.tokens import Caller, IssuedToken, TokenIssuer

INVALID_CREDENTIALS = "invalid credentials"


class Accounts:
    def __init__(self, store: UserStore, passwords: Passwords, issuer: TokenIssuer, clock: Clock) -> None:
        self._store = store
        self._passwords = passwords
        self._issuer = issuer
        self._clock = clock

    async def sign_up(self, email: str, password: str) -> tuple[UserRecord, IssuedToken]:
        credentials = domain.validate_sign_up(email, password)
        password_hash = await self._passwords.hash(credentials.password)
        user = UserRecord(new_id(), credentials.email, password_hash, self._clock())
        if not await self._store.add(user):
            raise AlreadyExists("this email is already registered")
        return user, self._issuer.issue(user.id, user.email, self._clock())

    async def sign_in(self, email: str, password: str) -> tuple[UserRecord, IssuedToken]:
        credentials = domain.validate_sign_in(email, password)
        user = await self._store.by_email(credentials.email)
        matches = await self._passwords.verify(None if user is None else user.password_hash, credentials.password)
        if user is None or not matches:
            raise Unauthenticated(INVALID_CREDENTIALS)
        return user, self._issuer.issue(user.id, user.email, self._clock())

    async def sign_out(self, caller: Caller) -> None:
        """Revoke the caller's token until it expires (every verifier learns it from `session.revoked`)."""
        if caller.expires_at is not None:
            await self._store.revoke(caller.token_id, caller.user_id, caller.expires_at)

    async def current_user(self, user_id: str) -> UserRecord:
        users = await self._store.by_ids([user_id])
        if not users:
            raise Unauthenticated("this account no longer exists")
        return users[0]

    async def users(self, ids: list[str]) -> list[UserRecord]:
        return await self._store.by_ids(paging.batch_ids(ids))
