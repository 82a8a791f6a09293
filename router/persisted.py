"""Automatic persisted queries, Apollo's protocol (docs/reference.md §15).

A request whose `extensions.persistedQuery` is `{"version": 1, "sha256Hash": HASH}`:
- without a query, is served the query text cached under HASH; when none is, it is answered
  `PersistedQueryNotFound` (code PERSISTED_QUERY_NOT_FOUND, HTTP 200: what Apollo clients expect
  before they send the query along with its hash);
- with a query, has HASH checked against the SHA-256 of the query's UTF-8 text (hex, either case):
  a mismatch is `provided sha does not match query` (BAD_USER_INPUT); else the query is run and,
  when it parses and validates, cached under HASH.
The same holds for GET (`extensions` as a JSON query parameter). Any other version is
`Unsupported persisted query version` (BAD_USER_INPUT). The cache is bounded like the document
cache: `[router] document_cache_size` entries and `document_cache_bytes` bytes (each entry weighs
its text's UTF-8 bytes and its hash), least recently used out first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbmesh.router.graphql_errors import graphql_error
from dbmesh.router.preparation import Lru

__all__ = ["PersistedQueries", "Refusal"]

NOT_FOUND = "PersistedQueryNotFound"


@dataclass(frozen=True)
class Refusal:
    """Why a persisted-query request is not run: its one GraphQL error, and whether it is a
    request error (status 400 under application/graphql-response+json); not found is not one."""

    error: dict[str, Any]
    request_error: bool = True


def _bad(message: str) -> Refusal:
    return Refusal(graphql_error(message, "BAD_USER_INPUT"))


class PersistedQueries:
    """Query texts by SHA-256 hash, for the requests that send only the hash."""

    def __init__(self, size: int, max_bytes: int, valid: Callable[[str], bool]) -> None:
        """`valid(query)`: whether the query parses and validates (only those are cached)."""
        self._queries: Lru[str, str] = Lru(size, max_bytes)
        self._valid = valid

    def __len__(self) -> int:
        return len(self._queries.items)

    def resolve(self, payload: Any) -> Any:
        """`payload` (a decoded request) with its persisted query's text filled in, as is when
        it names no persisted query, or the `Refusal` answering it."""
        extensions = payload.get("extensions") if isinstance(payload, dict) else None
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            return payload
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return _bad("Unsupported persisted query version")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str):
            return _bad("'extensions.persistedQuery.sha256Hash' must be a string")
        digest = digest.lower()
        query = payload.get("query")
        if query is None:
            known = self._queries.get(digest)
            if known is None:
                return Refusal(graphql_error(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND"), request_error=False)
            return {**payload, "query": known}
        if not isinstance(query, str):
            return payload  # not a request at all: the endpoint says why
        if hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest() != digest:
            return _bad("provided sha does not match query")
        if self._queries.get(digest) is None and self._valid(query):
            self._queries.put(digest, query, len(query.encode("utf-8", "surrogatepass")) + len(digest))
        return payload
