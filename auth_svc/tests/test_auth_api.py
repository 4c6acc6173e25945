"""auth_svc over real gRPC, against the MongoDB-compatible server."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TypeAlias

import grpc
import jwt
import pytest

from common.bus import EventBus
from common.testing.grpc import bearer, error_reason, field_violations
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from ticketstore.auth.v1 import auth_pb2, auth_pb2_grpc
from ticketstore.events.v1 import sessions_pb2

Stub: TypeAlias = "auth_pb2_grpc.AuthServiceAsyncStub"  # the generated stub on a grpc.aio channel


async def sign_up(auth: Stub, email: str, password: str = "correct horse") -> auth_pb2.SignUpResponse:
    return await auth.SignUp(auth_pb2.SignUpRequest(email=email, password=password))


async def test_sign_up_returns_user_and_a_token_that_works(auth: Stub, jwt_keys: JwtKeys) -> None:
    reply = await sign_up(auth, "  Ann@Example.com ")
    assert reply.user.email == "ann@example.com"
    assert reply.user.id
    caller = jwt_keys.verifier.verify(reply.token)
    assert (caller.user_id, caller.email) == (reply.user.id, "ann@example.com")
    expires = reply.expire_time.ToDatetime(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < expires <= dt.timedelta(hours=24)
    me = await auth.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(reply.token))
    assert me.user == reply.user


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [("not-an-email", "long enough", "email"), ("ann@example.com", "short", "password")],
)
async def test_bad_input_names_the_field(auth: Stub, email: str, password: str, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sign_up(auth, email, password)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(caught.value)) == [field]
    assert error_reason(caught.value) == "BAD_USER_INPUT"


async def test_same_email_in_another_case_or_with_spaces_already_exists(auth: Stub) -> None:
    await sign_up(auth, "bob@example.com")
    for variant in ("BOB@example.com", "  bob@example.com  "):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sign_up(auth, variant)
        assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS


async def test_concurrent_sign_ups_with_one_email_make_one_account(auth: Stub) -> None:
    results = await asyncio.gather(
        *(sign_up(auth, f"{' ' * i}Race@Example.com") for i in range(8)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, auth_pb2.SignUpResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert len(losers) == 7
    assert all(e.code() is grpc.StatusCode.ALREADY_EXISTS for e in losers)
    signed_in = await auth.SignIn(auth_pb2.SignInRequest(email="race@example.com", password="correct horse"))
    assert signed_in.user.id == winners[0].user.id


async def test_sign_in_and_its_failures_look_the_same(auth: Stub) -> None:
    created = await sign_up(auth, "cat@example.com")
    ok = await auth.SignIn(auth_pb2.SignInRequest(email=" CAT@example.com", password="correct horse"))
    assert ok.user.id == created.user.id
    answers = []
    for email, password in (("cat@example.com", "wrong password"), ("nobody@example.com", "correct horse")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await auth.SignIn(auth_pb2.SignInRequest(email=email, password=password))
        answers.append((caught.value.code(), caught.value.details()))
    assert answers == [(grpc.StatusCode.UNAUTHENTICATED, "invalid credentials")] * 2


async def test_current_user_needs_a_valid_token(auth: Stub, jwt_keys: JwtKeys) -> None:
    created = await sign_up(auth, "dan@example.com")
    expired = jwt_keys.issuer.issue(
        created.user.id, "dan@example.com", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    )
    for metadata in (
        (),
        bearer(expired.token),
        bearer(created.token[:-4] + "AAAA"),
        (("authorization", "Basic x"),),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await auth.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=metadata)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_batch_get_users_skips_unknown_ids(auth: Stub) -> None:
    a = await sign_up(auth, "a@example.com")
    b = await sign_up(auth, "b@example.com")
    reply = await auth.BatchGetUsers(
        auth_pb2.BatchGetUsersRequest(ids=[a.user.id, "nope", b.user.id, a.user.id]), metadata=bearer(a.token)
    )
    assert sorted(u.email for u in reply.users) == ["a@example.com", "b@example.com"]
    assert all(u.email for u in reply.users)


async def test_sign_out_revokes_the_token_and_announces_it(auth: Stub, bus: EventBus, jwt_keys: JwtKeys) -> None:
    reply = await sign_up(auth, "out@example.com")
    other = await auth.SignIn(auth_pb2.SignInRequest(email="out@example.com", password="correct horse"))
    await auth.SignOut(auth_pb2.SignOutRequest(), metadata=bearer(reply.token))

    async def refused() -> bool:
        try:
            await auth.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(reply.token))
        except grpc.aio.AioRpcError as error:
            return error.code() is grpc.StatusCode.UNAUTHENTICATED
        return False

    await eventually(refused, "the signed-out token to be refused", timeout=2)
    me = await auth.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(other.token))
    assert me.user.id == reply.user.id  # only that session ended
    info = await bus.js.stream_info("SESSIONS")  # read as the operator: auth_svc's own user only publishes there
    assert info.state.messages == 1
    raw = await bus.js.get_msg("SESSIONS", info.state.last_seq)
    event = sessions_pb2.SessionRevoked.FromString(raw.data or b"")
    assert event.token_id == jwt.decode(reply.token, options={"verify_signature": False})["jti"]
    assert event.user_id == reply.user.id
    assert event.expire_time.seconds == reply.expire_time.seconds  # the token's exp (whole seconds)
