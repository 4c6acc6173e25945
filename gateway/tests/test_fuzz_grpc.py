"""A fuzzed gRPC surface (issue 15, item 7): hypothesis writes every request message of every RPC of every service
(auth, tickets, orders, payments) from its protobuf descriptor — unicode text, ids that look real, real ids of
this stack, integers at their type's bounds, repeated fields past the batch limit — and sends it to the real
services with no token, a valid token of a real user, or a forged one.

Every answer: OK or a status `common.grpc_edge.STATUS` maps (never INTERNAL or UNKNOWN), and no stack trace or
internal name in its message. Bounded like gateway/tests/test_fuzz.py (FUZZ_EXAMPLES, FUZZ_SECONDS; `make fuzz`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.grpc_edge import STATUS
from common.ids import new_id
from gateway.tests.helpers import GraphQLClient, Stack, unique_email
from ticketstore.auth.v1 import auth_pb2
from ticketstore.orders.v1 import orders_pb2
from ticketstore.payments.v1 import payments_pb2
from ticketstore.tickets.v1 import tickets_pb2

SERVICES = {
    "auth": auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    "tickets": tickets_pb2.DESCRIPTOR.services_by_name["TicketsService"],
    "orders": orders_pb2.DESCRIPTOR.services_by_name["OrdersService"],
    "payments": payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"],
}
METHODS = [(name, method) for name, service in SERVICES.items() for method in service.methods]

TOTAL_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "102"))  # 6 per RPC in `make test`
EXAMPLES_PER_METHOD = max(1, TOTAL_EXAMPLES // len(METHODS))
SECONDS_PER_METHOD = float(os.environ.get("FUZZ_SECONDS", "10"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_METHOD,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

MAPPED = {grpc.StatusCode.OK} | {code for code, _ in STATUS.values()} - {grpc.StatusCode.INTERNAL}
INTERNAL_MARKERS = ("Traceback", 'File "', ".py", "pymongo", "_svc", "Exception", "nats")

_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
# protobuf strings are UTF-8: no surrogates (a lone one cannot even be set on a message)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
HEX_ID = st.text("0123456789abcdefABCDEF", min_size=23, max_size=25)


def scalar(field: FieldDescriptor, real_ids: list[str]) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        parts: list[st.SearchStrategy[Any]] = [TEXT, HEX_ID, st.sampled_from(["", " ", "\n", "pm_card_visa"])]
        if real_ids:
            parts.append(st.sampled_from(real_ids))
            parts.append(st.sampled_from(real_ids).map(lambda value: value + "\n"))
        if "email" in field.name:
            parts.append(st.emails())
        return st.one_of(parts)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=200)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, width=32 if field.type == FieldDescriptor.TYPE_FLOAT else 64)
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        return st.sampled_from([value.number for value in field.enum_type.values] + [999])
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        return messages(field.message_type, real_ids)
    low, high = _INT_BOUNDS[field.type]
    return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, -1, 1, 100, 101]))


def messages(descriptor: Descriptor, real_ids: list[str]) -> st.SearchStrategy[Message]:
    """Any message of this type: each field set or left at its default; repeated fields up to past 500 items."""
    cls = message_factory.GetMessageClass(descriptor)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        one = scalar(field, real_ids)
        if field.is_repeated:
            fields[field.name] = st.one_of(st.lists(one, max_size=8), st.lists(HEX_ID, min_size=501, max_size=505))
        else:
            fields[field.name] = one
    optional = {name: st.one_of(st.none(), strategy) for name, strategy in fields.items()}

    def build(values: dict[str, Any]) -> Message:
        built = cls()
        for name, value in values.items():
            if value is None:
                continue
            target = getattr(built, name)
            if isinstance(value, list):
                if value and isinstance(value[0], Message):
                    for item in value:
                        target.add().CopyFrom(item)
                else:
                    target.extend(value)
            elif isinstance(value, Message):
                target.CopyFrom(value)
            else:
                setattr(built, name, value)
        return built

    return st.fixed_dictionaries(optional).map(build)


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[f"{s}-{m.name}" for s, m in METHODS])
async def test_fuzzed_requests_get_mapped_statuses(
    stack: Stack, clients: Any, service: str, method: MethodDescriptor
) -> None:
    owner: GraphQLClient = clients()
    email = unique_email()
    session = await owner.sign_up(email)
    user_id = session["user"]["id"]
    ticket = await owner.create_ticket("gRPC fuzz", 1_000)
    real_ids = [user_id, ticket["id"], new_id()]
    issuer = stack.jwt_keys.issuer
    tokens: dict[str, str | None] = {
        "none": None,
        "valid": session["token"],
        "forged": session["token"][:-4] + "AAAA",
        "not-a-bearer": "x",
    }
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    stop_at = time.monotonic() + SECONDS_PER_METHOD
    failures: list[str] = []
    seen: Counter[str] = Counter()
    sent = 0

    with grpc.insecure_channel(stack.services[service].target) as channel:
        call = channel.unary_unary(
            path, request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString
        )

        @FUZZ_SETTINGS
        @given(request=messages(method.input_type, real_ids), who=st.sampled_from(sorted(tokens)))
        def run(request: Message, who: str) -> None:
            nonlocal sent
            if time.monotonic() > stop_at:
                return
            sent += 1
            token = tokens[who]
            metadata = None
            if token is not None:
                metadata = (("authorization", token if who == "not-a-bearer" else f"Bearer {token}"),)
            code, details = grpc.StatusCode.OK, ""
            try:
                call(request, metadata=metadata, timeout=20)
            except grpc.RpcError as error:
                code, details = error.code(), error.details() or ""
            seen[f"{who}:{code.name}"] += 1
            if code not in MAPPED:
                failures.append(f"{who} {path} {request!r} -> {code} {details}")
            failures.extend(
                f"{who} {path} -> {marker!r} in {details!r}" for marker in INTERNAL_MARKERS if marker in details
            )
            if who == "valid" and method.name == "SignOut" and code == grpc.StatusCode.OK:
                tokens["valid"] = issuer.issue(user_id, email).token  # the old one is revoked now

        await asyncio.to_thread(run)
    print(f"{path}: {sent} requests, {dict(seen)}")  # shown with -s
    assert not failures, failures[:5]
    assert sent > 0
