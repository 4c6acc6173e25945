"""Revoked sessions on real JetStream: a process that starts later learns them; expired ones are forgotten."""

from __future__ import annotations

import datetime as dt

import pytest

from common import events
from common.bus import EventBus
from common.errors import Unauthenticated
from common.revocations import Revocations
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.timestamps import to_timestamp
from common.tokens import load_verifier
from ticketstore.events.v1 import sessions_pb2


async def revoke(bus: EventBus, token_id: str, expires_at: dt.datetime) -> None:
    event = sessions_pb2.SessionRevoked(token_id=token_id, user_id="u", expire_time=to_timestamp(expires_at))
    await bus.publish(events.SESSION_REVOKED, event, events.msg_id(events.SESSION_REVOKED, token_id))


async def test_a_later_process_learns_earlier_revocations_and_follows_new_ones(bus: EventBus) -> None:
    now = dt.datetime.now(dt.UTC)
    await revoke(bus, "old", now + dt.timedelta(hours=1))
    await revoke(bus, "expired", now - dt.timedelta(seconds=1))
    revocations = Revocations()
    await revocations.follow(bus.js)
    try:
        assert "old" in revocations  # loaded before follow() returned
        assert "expired" not in revocations
        await revoke(bus, "new", now + dt.timedelta(hours=1))

        async def arrived() -> bool:
            return "new" in revocations

        await eventually(arrived, "a new revocation", timeout=2)
    finally:
        await revocations.stop()


async def test_the_verifier_refuses_a_revoked_token(bus: EventBus, jwt_keys: JwtKeys) -> None:
    issued = jwt_keys.issuer.issue("u1", "u1@example.com")
    caller = jwt_keys.verifier.verify(issued.token)
    assert caller.expires_at is not None
    await revoke(bus, caller.token_id, caller.expires_at)
    verifier = load_verifier(jwt_keys.public_key_file, is_prod=True)
    verifier.revoked = revocations = Revocations()
    await revocations.follow(bus.js)
    try:
        with pytest.raises(Unauthenticated, match="signed out"):
            verifier.verify(issued.token)
        assert jwt_keys.verifier.verify(issued.token) == caller  # a verifier that does not follow them accepts it
    finally:
        await revocations.stop()
