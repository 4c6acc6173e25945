"""Persisted operations (the Apollo persisted-query extension) and trusted documents, over HTTP and
graphql-transport-ws, against the real gateway; and the manifest and admission rules on their own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.documents import REMEMBERED, Documents, load_manifest, sha256_hex
from gateway.errors import ApiError
from gateway.tests.helpers import GraphQLClient

ME = "query Me { me { id } }"
TICKET_STATUS = "subscription($id: ID!) { ticketStatus(ticketId: $id) { ticketId status } }"
UNKNOWN = "0" * 64


def persisted(sha: str, query: str | None = None, **more: Any) -> dict[str, Any]:
    """A request body as Apollo clients send it: the hash in extensions, the query only when asked for."""
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}, **more}
    if query is not None:
        body["query"] = query
    return body


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha256_hex(doc): doc for doc in (ME, TICKET_STATUS)}))
    return path


def error_of(answer: httpx.Response) -> tuple[str, str]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert not body.get("data"), body
    (error,) = body["errors"]
    return error["extensions"]["code"], error["message"]


# --- the rules on their own ---


def test_the_manifest_must_map_each_documents_sha256_to_it(tmp_path: Path) -> None:
    assert load_manifest(tmp_path / "missing.json") == {}
    good = tmp_path / "good.json"
    good.write_text(json.dumps({sha256_hex(ME): ME}))
    assert load_manifest(good) == {sha256_hex(ME): ME}
    for bad in ("{not json", "[]", json.dumps({UNKNOWN: ME}), json.dumps({sha256_hex(ME): 5})):
        path = tmp_path / "bad.json"
        path.write_text(bad)
        with pytest.raises(ValueError, match="PERSISTED_DOCUMENTS_FILE"):
            load_manifest(path)


def test_admission_rules() -> None:
    other = "{ me { email } }"
    open_ = Documents({sha256_hex(ME): ME}, trusted_only=False, max_bytes=1_000)

    def code(documents: Documents, query: object, extensions: object) -> str:
        with pytest.raises(ApiError) as refused:
            documents.admit(query, extensions)
        return str(refused.value.code)

    ext = persisted(sha256_hex(ME))["extensions"]
    assert open_.admit(None, ext) == ME
    assert open_.admit(None, persisted(sha256_hex(ME).upper())["extensions"]) == ME  # hex in any case
    assert open_.admit(other, None) == other
    assert open_.admit(None, None) is None  # no document at all: the transport says "no query"
    assert code(open_, None, persisted(sha256_hex(other))["extensions"]) == "PERSISTED_QUERY_NOT_FOUND"
    assert open_.admit(other, persisted(sha256_hex(other))["extensions"]) == other
    assert open_.admit(None, persisted(sha256_hex(other))["extensions"]) == other  # remembered
    assert code(open_, other, ext) == "BAD_USER_INPUT"  # the hash is ME's
    assert code(open_, None, {"persistedQuery": {"version": 2, "sha256Hash": UNKNOWN}}) == "BAD_USER_INPUT"
    assert code(open_, None, {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}) == "BAD_USER_INPUT"
    assert code(open_, None, {"persistedQuery": "yes"}) == "BAD_USER_INPUT"
    assert code(open_, "{ me { id } }" + " " * 1_000, None) == "DOCUMENT_TOO_LARGE"

    trusted = Documents({sha256_hex(ME): ME}, trusted_only=True, max_bytes=1_000)
    assert trusted.admit(None, ext) == ME
    assert trusted.admit(ME, None) == ME  # the very text of a trusted document
    assert code(trusted, other, None) == "FORBIDDEN"
    assert code(trusted, None, persisted(UNKNOWN)["extensions"]) == "PERSISTED_QUERY_NOT_FOUND"
    assert code(trusted, other, persisted(sha256_hex(other))["extensions"]) == "FORBIDDEN"
    assert code(trusted, None, persisted(sha256_hex(other))["extensions"]) == "PERSISTED_QUERY_NOT_FOUND"


def test_remembered_documents_are_bounded() -> None:
    documents = Documents({}, trusted_only=False, max_bytes=1_000)
    queries = [f"{{ a{n}: me {{ id }} }}" for n in range(REMEMBERED + 1)]
    for query in queries:
        documents.admit(query, persisted(sha256_hex(query))["extensions"])
    with pytest.raises(ApiError):  # the oldest was forgotten
        documents.admit(None, persisted(sha256_hex(queries[0]))["extensions"])
    assert documents.admit(None, persisted(sha256_hex(queries[-1]))["extensions"]) == queries[-1]


# --- over HTTP ---


async def test_apollo_persisted_queries_over_http(manifest: Path, start_gateway: Any) -> None:
    gateway = await start_gateway(persisted_documents_file=manifest)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        known = await http.post("/graphql", json=persisted(sha256_hex(ME), operationName="Me"))
        assert known.json() == {"data": {"me": None}}

        fresh = "{ me { email } }"
        assert error_of(await http.post("/graphql", json=persisted(sha256_hex(fresh)))) == (
            "PERSISTED_QUERY_NOT_FOUND",
            "PersistedQueryNotFound",
        )
        registered = await http.post("/graphql", json=persisted(sha256_hex(fresh), fresh))
        assert registered.json() == {"data": {"me": None}}
        by_hash = await http.post("/graphql", json=persisted(sha256_hex(fresh)))  # learnt from the request before
        assert by_hash.json() == {"data": {"me": None}}

        mismatch = await http.post("/graphql", json=persisted(sha256_hex(ME), fresh))
        assert error_of(mismatch) == ("BAD_USER_INPUT", "provided sha does not match query")
        assert (
            mismatch.json()["errors"][0]["extensions"]["fields"][0]["field"] == "extensions.persistedQuery.sha256Hash"
        )
        assert (await http.post("/graphql", json={"query": "{ me { id } }"})).json() == {"data": {"me": None}}


async def test_trusted_documents_only(
    manifest: Path, start_gateway: Any, clients: Callable[[], GraphQLClient], ws_connect: Any
) -> None:
    gateway = await start_gateway(persisted_documents_file=manifest, trusted_documents_only=True)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        assert (await http.post("/graphql", json=persisted(sha256_hex(ME)))).json() == {"data": {"me": None}}
        assert (await http.post("/graphql", json={"query": ME})).json() == {"data": {"me": None}}
        raw = "{ me { email } }"
        forbidden = ("FORBIDDEN", "only trusted documents are accepted")
        assert error_of(await http.post("/graphql", json={"query": raw})) == forbidden
        assert error_of(await http.post("/graphql", json=persisted(sha256_hex(raw), raw))) == forbidden
        not_found = ("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        assert error_of(await http.post("/graphql", json=persisted(sha256_hex(raw)))) == not_found

    seller = clients()
    await seller.sign_up()
    ticket = await seller.create_ticket()
    async with ws_connect(gateway) as ws:
        await ws.init()
        op = "1"
        await ws.send(
            {
                "id": op,
                "type": "subscribe",
                "payload": {**persisted(sha256_hex(TICKET_STATUS)), "variables": {"id": ticket["id"]}},
            }
        )
        assert (await ws.next_data(op))["ticketStatus"] == {"ticketId": ticket["id"], "status": "AVAILABLE"}
        for op, payload, expected in (
            ("2", {"query": TICKET_STATUS.replace("status }", "status version }")}, "FORBIDDEN"),
            ("3", persisted(UNKNOWN), "PERSISTED_QUERY_NOT_FOUND"),
        ):
            await ws.send({"id": op, "type": "subscribe", "payload": {**payload, "variables": {"id": ticket["id"]}}})
            message = await ws.receive()
            assert (message["id"], message["type"]) == (op, "error"), message
            assert message["payload"][0]["extensions"]["code"] == expected


async def test_a_subscribe_without_a_payload_object_closes_the_socket(ws_connect: Any) -> None:
    async with ws_connect() as ws:
        await ws.init()
        await ws.send({"id": "1", "type": "subscribe", "payload": "{ me { id } }"})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
