"""A small schema of the router's unit tests, and the router's own pipeline to plan against it.

The schema is the tests' own (not the demo's) so that each shape the router handles is there on
purpose: non-null and nullable columns, list relations with non-null and with nullable items, a
single-object relation on a nullable key, a not-found fallback chain and the consistency fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema

from dbmesh.config import RouterConfig
from dbmesh.router import breaker as breaker_module
from dbmesh.router.preparation import Preparation, Prepared
from dbmesh.router.schema import SchemaIndex, build_graphql_schema
from dbmesh.schema import load_schema

SCHEMA = """
from datetime import datetime, timedelta
from uuid import UUID

from dbmesh import database, types


@types.object(max_staleness=timedelta(seconds=60))
class Author:
    id: UUID
    name: str
    nickname: str | None
    last_sync: datetime | None
    is_stale: bool
    source_database: str

    @database("books_db")
    def books(self) -> list["Book"]: ...

    @database("books_db", on={"author_id": "id"})
    def drafts(self) -> list["Book | None"]: ...


@types.object
class Book:
    id: UUID
    author_id: UUID
    editor_id: UUID | None
    title: str
    pages: int | None

    @database("people_db", fallback="people_copy")
    def author(self) -> Author | None: ...

    @database("people_db", on={"id": "editor_id"})
    def editor(self) -> Author | None: ...


@types.object
class Query:
    @database("people_db", fallback=["people_copy", "people_spare"])
    def authors(self, limit: int = 50) -> list[Author]: ...

    @database("people_db", fallback=["people_copy", "people_spare"], fallback_on=("unavailable", "not_found"))
    def author(self, id: str) -> Author | None: ...

    @database("books_db")
    def books(self, author_id: str | None = None) -> list[Book]: ...

    @database("books_db")
    def shelf(self) -> list[Book | None]: ...
"""

Prepare = Callable[..., Prepared]


@pytest.fixture(scope="session")
def unit_schema(tmp_path_factory: pytest.TempPathFactory) -> tuple[GraphQLSchema, SchemaIndex]:
    path = Path(tmp_path_factory.mktemp("unit_router")) / "schema.py"
    path.write_text(SCHEMA)
    return build_graphql_schema(load_schema(path))


@pytest.fixture(scope="session")
def index(unit_schema: tuple[GraphQLSchema, SchemaIndex]) -> SchemaIndex:
    return unit_schema[1]


@pytest.fixture(scope="session")
def prepare(unit_schema: tuple[GraphQLSchema, SchemaIndex]) -> Prepare:
    """`prepare(query, variables=None)`: the plan and coerced variables, as the router prepares a
    request (parsed, validated, variables coerced, planned); fails the test on a refusal."""
    schema, index = unit_schema
    preparation = Preparation(schema, index, RouterConfig())

    def run(query: str, variables: Mapping[str, Any] | None = None) -> Prepared:
        prepared = preparation.prepare(query, None, variables)
        assert isinstance(prepared, Prepared), prepared
        return prepared

    return run


class Clock:
    """A `time` module for `router.breaker` whose `monotonic()` moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The circuit breakers' clock, controlled by the test (only `router.breaker` sees it)."""
    fake = Clock()
    monkeypatch.setattr(breaker_module, "time", fake)
    return fake
