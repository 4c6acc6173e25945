"""Which GraphQL documents the gateway runs: the size limit and persisted (trusted) operations, for HTTP and
websockets alike.

A client may name its document by hash with the Apollo persisted-query extension
(`extensions: {persistedQuery: {version: 1, sha256Hash}}`), as Apollo's web, iOS and Android clients do:

    hash in the manifest                  -> that document runs
    hash only, unknown                    -> PERSISTED_QUERY_NOT_FOUND ("PersistedQueryNotFound"); the client then
                                             sends hash + query
    hash + query                          -> the hash must be the query's sha256; the query runs and is remembered
                                             (a bounded LRU), so later hash-only requests work
    query alone                           -> runs

With `TRUSTED_DOCUMENTS_ONLY` only the manifest's documents run: an unknown hash is PERSISTED_QUERY_NOT_FOUND and
any other text is FORBIDDEN ("only trusted documents are accepted"); text identical to a manifest document is that
document. The manifest (PERSISTED_DOCUMENTS_FILE) is a JSON object: sha256 hex of the exact document text -> text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.errors import ApiError, Code

REMEMBERED = 1_000  # documents learnt from hash + query; at most this many times MAX_DOCUMENT_BYTES held
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"  # the exact message Apollo clients look for
UNTRUSTED_MESSAGE = "only trusted documents are accepted"
MAX_NESTING = 64  # far above any depth-limited query (MAX_QUERY_DEPTH), far below the parser's recursion limit


def nesting(document: str) -> int:
    """The deepest nesting of (), [] and {} in a document, outside string literals."""
    depth = deepest = 0
    in_string = escaped = False
    for character in document:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in ")]}":
            depth -= 1
    return deepest


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()


def document_too_large(query: str, max_bytes: int) -> bool:
    # Cheap first: a str of n characters is at least n and at most 4n bytes in UTF-8.
    if len(query) > max_bytes:
        return True
    return len(query) * 4 > max_bytes and len(query.encode("utf-8", "surrogatepass")) > max_bytes


def load_manifest(path: Path) -> dict[str, str]:
    """The manifest at `path` ({} when there is none). A malformed one stops the gateway at start-up."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ValueError(f"PERSISTED_DOCUMENTS_FILE {path}: not readable JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"PERSISTED_DOCUMENTS_FILE {path}: expected a JSON object of sha256 hex -> document")
    for key, document in data.items():
        if not isinstance(document, str) or key != sha256_hex(document):
            raise ValueError(f"PERSISTED_DOCUMENTS_FILE {path}: {key!r} is not the sha256 hex of its document")
    return data


class Documents:
    def __init__(self, manifest: Mapping[str, str], *, trusted_only: bool, max_bytes: int) -> None:
        self._manifest = dict(manifest)
        self._remembered: OrderedDict[str, str] = OrderedDict()
        self.trusted_only = trusted_only
        self.max_bytes = max_bytes

    def admit(self, query: object, extensions: object) -> str | None:
        """The document to run for a request's `query` and `extensions`, or an ApiError saying why none runs.

        None when the request names no document at all (the caller reports a missing query)."""
        if isinstance(query, str) and document_too_large(query, self.max_bytes):
            raise ApiError(Code.DOCUMENT_TOO_LARGE, f"the document is larger than {self.max_bytes} bytes")
        if query is not None and not isinstance(query, str):
            raise ApiError.bad_input("query", "must be a string")
        if isinstance(query, str) and nesting(query) > MAX_NESTING:
            # The parser recurses per level: refuse before it runs (the depth limit applies after parsing).
            raise ApiError.bad_input("query", f"is nested more than {MAX_NESTING} levels deep")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            return self._text(query)
        sha = _requested_hash(persisted)
        if query is None:
            found = self._manifest.get(sha) or (None if self.trusted_only else self._remembered.get(sha))
            if found is None:
                raise ApiError(Code.PERSISTED_QUERY_NOT_FOUND, NOT_FOUND_MESSAGE)
            if sha in self._remembered:
                self._remembered.move_to_end(sha)
            return found
        if sha256_hex(query) != sha:
            raise ApiError(
                Code.BAD_USER_INPUT,
                "provided sha does not match query",
                [{"field": "extensions.persistedQuery.sha256Hash", "message": "is not the sha256 of the query"}],
            )
        if sha in self._manifest:
            return query
        if self.trusted_only:
            raise ApiError(Code.FORBIDDEN, UNTRUSTED_MESSAGE)
        self._remember(sha, query)
        return query

    def _text(self, query: str | None) -> str | None:
        if query is not None and self.trusted_only and sha256_hex(query) not in self._manifest:
            raise ApiError(Code.FORBIDDEN, UNTRUSTED_MESSAGE)
        return query

    def _remember(self, sha: str, query: str) -> None:
        self._remembered[sha] = query
        self._remembered.move_to_end(sha)
        while len(self._remembered) > REMEMBERED:
            self._remembered.popitem(last=False)


def _requested_hash(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise ApiError.bad_input("extensions.persistedQuery.version", "must be 1")
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str) or not SHA256_HEX.fullmatch(sha.lower()):
        raise ApiError.bad_input("extensions.persistedQuery.sha256Hash", "must be a sha256 in hex")
    return sha.lower()
