"""How an upsert is run on MariaDB (services/writes.py): one multi-row `INSERT ... ON DUPLICATE KEY
UPDATE` per chunk where the conflict columns are the table's only unique key and compared
exactly, the lock / insert / update-by-key statements everywhere else. Pinned by the statements
the trace reports (a sync batch is such an upsert: bench/results/sync-latest.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from mysql_resolver import Resolver, decode, row

from dbmesh.resolver.v1 import resolver_pb2 as pb

Sql = Callable[[str], list[tuple[Any, ...]]]


def _kinds(response: pb.MutateResponse) -> list[str]:
    return [
        " ".join(s.sql.split()[:2]) + (" ... ON DUPLICATE KEY" if "ON DUPLICATE KEY" in s.sql else "")
        for s in response.statements
    ]


async def test_a_primary_key_only_table_is_one_statement_for_new_and_existing_rows(
    resolver: Resolver, sql: Sql
) -> None:
    sql(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, price DECIMAL(8,2));\n"
        "INSERT INTO items VALUES (1, 'old', 1.00), (2, 'old', 2.00), (3, 'same', 3.00)"
    )
    rows = [row(id=n, name="same" if n == 3 else "new", price=f"{n}.00") for n in range(1, 301)]

    response = await resolver.mutate("items", upsert=pb.Upsert(rows=rows, conflict_columns=["id"]))

    assert _kinds(response) == ["INSERT INTO ... ON DUPLICATE KEY"]
    assert response.affected_rows == 300  # 297 inserted, 2 updated, 1 left as it was: each counted once
    assert sql("SELECT COUNT(*), SUM(name = 'new'), SUM(price) FROM items") == [(300, 299, 45150)]


async def test_another_unique_key_keeps_the_exact_path_and_its_error(resolver: Resolver, sql: Sql) -> None:
    sql(
        "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(50) NOT NULL UNIQUE, note VARCHAR(20));\n"
        "INSERT INTO users VALUES (1, 'a@x', 'old'), (2, 'b@x', 'old')"
    )
    upsert = pb.Upsert(rows=[row(id=1, email="a@x", note="new"), row(id=3, email="c@x", note="new")])

    response = await resolver.mutate("users", upsert=upsert)

    assert _kinds(response) == ["SELECT `id`", "INSERT INTO", "UPDATE `users`"]
    assert "FOR UPDATE" in response.statements[0].sql
    assert response.affected_rows == 2
    # ON DUPLICATE KEY would update row 2 here; the named key (id) makes it a unique violation.
    clash = pb.Upsert(rows=[row(id=4, email="b@x", note="new")])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.mutate("users", upsert=clash)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert sql("SELECT id, note FROM users ORDER BY id") == [(1, "new"), (2, "old"), (3, "new")]


async def test_case_insensitive_keys_returning_and_repeated_keys_keep_the_exact_path(
    resolver: Resolver, sql: Sql
) -> None:
    sql(
        "CREATE TABLE tags (name VARCHAR(20) PRIMARY KEY, n INT);\nINSERT INTO tags VALUES ('a', 1)\n;\n"
        "CREATE TABLE counts (id INT PRIMARY KEY, n INT);\nINSERT INTO counts VALUES (1, 1)"
    )
    # 'A' is not 'a' for the named key, though the general_ci primary key holds them equal.
    tagged = await resolver.mutate("tags", upsert=pb.Upsert(rows=[row(name="b", n=2)]))
    assert "FOR UPDATE" in tagged.statements[0].sql
    returned = await resolver.mutate("counts", ["id", "n"], upsert=pb.Upsert(rows=[row(id=1, n=5), row(id=2, n=6)]))
    assert "FOR UPDATE" in returned.statements[0].sql
    assert decode(returned.returning) == [[1, 5], [2, 6]]
    twice = await resolver.mutate("counts", upsert=pb.Upsert(rows=[row(id=1, n=7), row(id=1, n=8)]))
    assert "FOR UPDATE" in twice.statements[0].sql
    assert sql("SELECT id, n FROM counts ORDER BY id") == [(1, 8), (2, 6)]
