"""The compiler's shape cache (services/compiler.py `ShapeCache`): a batched request compiles to
exactly what it compiles to without the cache, whatever came before it; shapes are kept per
collection object (a refreshed catalog starts afresh), at most `size` of them, and requests with
no variable sets (their values are in the predicate) are never kept. The statements run on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace

import pytest
from conformance.client import ResolverClient, and_, cmp, var

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import CollectionInfo, ColumnInfo, Logical
from dbmesh.services.compiler import CompiledQuery, ShapeCache, compile_query
from dbmesh.services.dialects.base import Dialect

ITEMS = CollectionInfo(
    "items",
    {
        "id": ColumnInfo("id", "INTEGER", Logical.INT, nullable=False),
        "order_id": ColumnInfo("order_id", "INTEGER", Logical.INT, nullable=False),
        "qty": ColumnInfo("qty", "INTEGER", Logical.INT, nullable=False),
    },
    ("id",),
)
ROWS = [(1, 10, 1), (2, 10, 5), (3, 11, 2), (4, 12, 7), (5, 12, 1)]


@pytest.fixture
def database() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, qty INTEGER NOT NULL)")
    conn.executemany("INSERT INTO items VALUES (?, ?, ?)", ROWS)
    yield conn
    conn.close()


def _by_order(orders: list[int], *, min_qty: int = 0, limit: int | None = None) -> pb.QueryRequest:
    return ResolverClient.request(
        "items",
        ["id", "qty"],
        where=and_(cmp("order_id", "eq", var("o")), cmp("qty", "gte", min_qty)),
        variables=[{"o": o} for o in orders],
        limit=limit,
    )


def _seen(compiled: CompiledQuery) -> tuple[object, ...]:
    """Everything a compiled query says except its key readers (closures, equal only to themselves)."""
    return (compiled.statements, compiled.columns, compiled.key_width, compiled.set_keys, compiled.set_count)


def _rows(database: sqlite3.Connection, compiled: CompiledQuery) -> list[tuple[int, ...]]:
    return [tuple(r) for s in compiled.statements for r in database.execute(s.sql, s.params)]


def test_a_cached_shape_compiles_as_without_the_cache(database: sqlite3.Connection) -> None:
    cache, dialect = ShapeCache(), Dialect()
    first = compile_query(_by_order([10, 11]), ITEMS, dialect, cache)
    second = compile_query(_by_order([12, 10, 12]), ITEMS, dialect, cache)
    assert len(cache) == 1
    assert _seen(second) == _seen(compile_query(_by_order([12, 10, 12]), ITEMS, dialect))
    assert second.set_keys == [(12,), (10,), (12,)]
    assert first.statements[0].params != second.statements[0].params
    assert sorted(_rows(database, second)) == [(10, 1, 1), (10, 2, 5), (12, 4, 7), (12, 5, 1)]


def test_values_outside_the_keys_and_paging_are_part_of_the_shape(database: sqlite3.Connection) -> None:
    cache, dialect = ShapeCache(), Dialect()
    compile_query(_by_order([10, 12]), ITEMS, dialect, cache)
    filtered = compile_query(_by_order([10, 12], min_qty=5), ITEMS, dialect, cache)
    paged = compile_query(_by_order([10, 12], limit=1), ITEMS, dialect, cache)
    assert len(cache) == 3
    assert sorted(_rows(database, filtered)) == [(10, 2, 5), (12, 4, 7)]
    assert _seen(paged) == _seen(compile_query(_by_order([10, 12], limit=1), ITEMS, dialect))


def test_a_refreshed_collection_is_not_served_an_old_shape() -> None:
    cache, dialect = ShapeCache(), Dialect()
    compile_query(_by_order([10]), ITEMS, dialect, cache)
    renamed = replace(ITEMS, columns={**ITEMS.columns, "qty": replace(ITEMS.columns["qty"], db_type="BIGINT")})
    compiled = compile_query(_by_order([10]), renamed, dialect, cache)
    assert compiled.columns[1].db_type == "BIGINT"
    assert len(cache) == 1  # the entry was replaced, not added


def test_at_most_size_shapes_are_kept_least_recent_first_out() -> None:
    cache, dialect = ShapeCache(size=2), Dialect()
    one = cache.prepared(_by_order([10], min_qty=1), ITEMS, dialect)
    two = cache.prepared(_by_order([11], min_qty=2), ITEMS, dialect)
    assert cache.prepared(_by_order([12], min_qty=1), ITEMS, dialect) is one  # same shape, other keys
    cache.prepared(_by_order([10], min_qty=3), ITEMS, dialect)  # evicts 2, the least recently used
    assert len(cache) == 2
    assert cache.prepared(_by_order([10], min_qty=1), ITEMS, dialect) is one
    assert cache.prepared(_by_order([10], min_qty=2), ITEMS, dialect) is not two


def test_requests_without_variable_sets_are_not_kept() -> None:
    cache = ShapeCache()
    request = ResolverClient.request("items", ["id"], where=cmp("order_id", "eq", 10))
    compile_query(request, ITEMS, Dialect(), cache)
    assert len(cache) == 0
