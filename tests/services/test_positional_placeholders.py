"""The base dialect's positional `?` placeholders bind one value each, also where an exact comparison
guards a case-insensitive column (`services/dialects/base.py`): every statement the compiler builds
carries as many values as placeholders, and runs, exactly, on SQLite."""

from __future__ import annotations

import sqlite3

import pytest
from conformance.client import ResolverClient, and_, asc, cmp, var

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import CollectionInfo, ColumnInfo, Logical
from dbmesh.services.compiler import compile_query
from dbmesh.services.dialects.base import Dialect

LABELS = CollectionInfo(
    "labels",
    {
        "id": ColumnInfo("id", "INTEGER", Logical.INT, nullable=False),
        # As an engine would mark a column declared COLLATE NOCASE.
        "label": ColumnInfo("label", "TEXT", Logical.STRING, exact_collation="BINARY", case_insensitive=True),
    },
    ("id",),
)
ROWS = [(1, "abc"), (2, "ABC"), (3, "Abc"), (4, "b")]


@pytest.fixture
def database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE labels (id INTEGER PRIMARY KEY, label TEXT COLLATE NOCASE NOT NULL)")
    conn.executemany("INSERT INTO labels VALUES (?, ?)", ROWS)
    yield conn
    conn.close()


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (cmp("label", "eq", "abc"), [1]),
        (cmp("label", "neq", "abc"), [2, 3, 4]),
        (cmp("label", "in", ["ABC", "b"]), [2, 4]),
        (cmp("label", "nin", ["ABC", "b"]), [1, 3]),
        (and_(cmp("label", "eq", "Abc"), cmp("id", "gt", 0)), [3]),
    ],
    ids=["eq", "neq", "in", "nin", "eq_and"],
)
def test_guarded_comparisons_bind_every_placeholder(
    database: sqlite3.Connection, where: pb.Expression, expected: list[int]
) -> None:
    request = ResolverClient.request("labels", ["id"], where=where, order_by=[asc("id")])
    (statement,) = compile_query(request, LABELS, Dialect()).statements
    assert statement.sql.count("?") == len(statement.params)
    assert [r[0] for r in database.execute(statement.sql, statement.params)] == expected


def test_keyed_batches_bind_every_placeholder(database: sqlite3.Connection) -> None:
    request = ResolverClient.request(
        "labels", ["id"], where=cmp("label", "eq", var("l")), variables=[{"l": "ABC"}, {"l": "abc"}, {"l": "aBC"}]
    )
    (statement,) = compile_query(request, LABELS, Dialect()).statements
    assert statement.sql.count("?") == len(statement.params)
    assert sorted(r[-1] for r in database.execute(statement.sql, statement.params)) == [1, 2]
