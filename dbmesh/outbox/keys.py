"""How the outbox names a row: the JSON of its primary key's canonical values (as the resolvers
return them), and the primary keys themselves, read from the resolvers' schemas."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson

from dbmesh.errors import CodedError
from dbmesh.resolver.client import ResolverClient

__all__ = ["KeyCache", "NoPrimaryKey", "row_key"]


class NoPrimaryKey(CodedError):
    """A write-through write to a table without a primary key: its rows cannot be named in the
    targets, so the write is refused (nothing applied) rather than copied ambiguously."""


def row_key(values: Sequence[Any]) -> str:
    """The outbox's name for the row whose primary key has these canonical values, in key order."""
    return orjson.dumps(list(values)).decode()


class KeyCache:
    """Primary keys of collections, from a database's GetSchema, read once per process (and again
    for a collection not found, which may have been created since)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self._lock = asyncio.Lock()

    def known(self, database: str, collection: str) -> tuple[str, ...] | None:
        return self._keys.get((database, collection))

    async def primary_key(self, client: ResolverClient, collection: str) -> tuple[str, ...]:
        """The primary key of `collection`; a CallError when the resolver cannot answer,
        NoPrimaryKey when the table has none."""
        found = self._keys.get((client.name, collection))
        if found is not None:
            return found
        async with self._lock:
            schema = await client.schema()
            for c in schema.collections:
                self._keys[(client.name, c.name)] = tuple(c.primary_key)
        found = self._keys.get((client.name, collection))
        if not found:
            raise NoPrimaryKey(f"write-through needs a primary key on {collection!r} in {client.name!r}")
        return found
