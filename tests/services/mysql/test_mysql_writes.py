"""Writes on MariaDB (docs/reference.md §8): insert, upsert, update and delete with returning, the errors
constraints give, and a read-only database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from harness.servers import DatabaseInfo
from mysql_resolver import Resolver, StartResolver, cmp, decode, mysql_config, row

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.engines.mysql import MysqlEngine
from dbmesh.services.errors import PermissionDenied

Sql = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture
def shop(sql: Sql) -> None:
    sql(
        """CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(50) NOT NULL UNIQUE, admin TINYINT(1) NOT NULL
            DEFAULT 0, balance DECIMAL(10,2), CHECK (balance >= 0));
        CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT NOT NULL, note VARCHAR(20),
            FOREIGN KEY (user_id) REFERENCES users (id));
        INSERT INTO users VALUES (1, 'a@x', 0, 10.00), (2, 'b@x', 1, 0.50)"""
    )


async def test_insert_returning(resolver: Resolver, shop: None, sql: Sql) -> None:
    response = await resolver.mutate(
        "orders",
        ["id", "user_id", "note"],
        insert=pb.Insert(rows=[row(user_id=1, note="50% off"), row(user_id=2, note=None)]),
    )
    assert response.affected_rows == 2
    assert decode(response.returning) == [[1, 1, "50% off"], [2, 2, None]]
    assert [s.sql.startswith("INSERT INTO `orders`") for s in response.statements] == [True]
    assert sql("SELECT COUNT(*) FROM orders") == [(2,)]


async def test_upsert_inserts_and_updates(resolver: Resolver, shop: None, sql: Sql) -> None:
    upsert = pb.Upsert(
        rows=[row(id=1, email="a@x", balance="11.5"), row(id=3, email="c@x", balance="1")],
        update_columns=["balance"],
    )
    response = await resolver.mutate("users", ["id", "email", "balance"], upsert=upsert)
    assert response.affected_rows == 2
    assert decode(response.returning) == [[1, "a@x", "11.50"], [3, "c@x", "1.00"]]
    assert sql("SELECT id, balance FROM users ORDER BY id") == [(1, 11.5), (2, 0.5), (3, 1)]
    # Without returning, MySQL's own count (1 per insert, 2 per update) is normalised too.
    again = pb.Upsert(rows=[row(id=1, email="a@x", balance="12"), row(id=4, email="d@x", balance="0")])
    assert (await resolver.mutate("users", upsert=again)).affected_rows == 2
    assert sql("SELECT id, email, balance FROM users WHERE id IN (1, 4) ORDER BY id") == [
        (1, "a@x", 12),
        (4, "d@x", 0),
    ]


async def test_update_returning_by_primary_key(resolver: Resolver, shop: None, sql: Sql) -> None:
    update = pb.Update(predicate=cmp("email", pb.OPERATOR_LIKE, "%@x"), set={"admin": pb.Value(boolean=True)})
    response = await resolver.mutate("users", ["id", "admin"], update=update)
    assert response.affected_rows == 2  # rows matched, also the one already an admin
    assert decode(response.returning) == [[1, True], [2, True]]
    assert "FOR UPDATE" in response.statements[0].sql
    plain = pb.Update(predicate=cmp("id", pb.OPERATOR_EQ, 2), set={"balance": pb.Value(decimal="0.5")})
    assert (await resolver.mutate("users", update=plain)).affected_rows == 1  # unchanged, still matched
    assert sql("SELECT COUNT(*) FROM users WHERE admin") == [(2,)]


async def test_delete_returning(resolver: Resolver, shop: None, sql: Sql) -> None:
    response = await resolver.mutate(
        "users", ["id", "email"], delete=pb.Delete(predicate=cmp("email", pb.OPERATOR_EQ, "B@X"))
    )
    assert (response.affected_rows, decode(response.returning)) == (0, [])  # exact comparison
    response = await resolver.mutate(
        "users", ["id", "email"], delete=pb.Delete(predicate=cmp("email", pb.OPERATOR_EQ, "b@x"))
    )
    assert (response.affected_rows, decode(response.returning)) == (1, [[2, "b@x"]])
    assert sql("SELECT id FROM users") == [(1,)]


async def test_predicate_matching_nothing_changes_nothing(resolver: Resolver, shop: None, sql: Sql) -> None:
    nothing = cmp("id", pb.OPERATOR_IN, [])
    update = pb.Update(predicate=nothing, set={"balance": pb.Value(decimal="99")})
    assert (await resolver.mutate("users", ["id"], update=update)).affected_rows == 0
    assert (await resolver.mutate("users", update=update)).affected_rows == 0
    assert (await resolver.mutate("users", ["id"], delete=pb.Delete(predicate=nothing))).affected_rows == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.mutate("users", delete=pb.Delete())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sql("SELECT id, balance FROM users ORDER BY id") == [(1, 10), (2, 0.5)]


@pytest.mark.parametrize(
    ("collection", "values", "code"),
    [
        ("users", {"id": 9, "email": "a@x"}, grpc.StatusCode.ALREADY_EXISTS),
        ("users", {"id": 1, "email": "new@x"}, grpc.StatusCode.ALREADY_EXISTS),
        ("users", {"id": 9, "email": None}, grpc.StatusCode.FAILED_PRECONDITION),
        ("users", {"id": 9, "email": "n@x", "balance": "-1"}, grpc.StatusCode.FAILED_PRECONDITION),
        ("orders", {"user_id": 42}, grpc.StatusCode.FAILED_PRECONDITION),
        ("orders", {"user_id": 1, "note": "x" * 21}, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_constraint_errors(
    resolver: Resolver, shop: None, sql: Sql, collection: str, values: dict[str, Any], code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.mutate(collection, ["id"], insert=pb.Insert(rows=[row(**values)]))
    assert caught.value.code() == code, caught.value.details()
    assert "database 'shop'" in (caught.value.details() or "")
    assert sql("SELECT COUNT(*) FROM users") == [(2,)] and sql("SELECT COUNT(*) FROM orders") == [(0,)]


async def test_read_only_database_refuses_writes(
    mysql_database: DatabaseInfo, start_resolver: StartResolver, shop: None
) -> None:
    resolver = await start_resolver(mysql_database, read_only=True)
    caps = await resolver.stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10)
    assert caps.read_only and not caps.two_phase_commit
    for operation in (
        {"insert": pb.Insert(rows=[row(id=5, email="e@x")])},
        {"delete": pb.Delete(predicate=cmp("id", pb.OPERATOR_EQ, 1))},
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await resolver.mutate("users", **operation)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.stub.Begin(pb.BeginRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await resolver.rows("users", ["id"]) == [[1], [2]]


async def test_read_only_sessions_refuse_writes_too(mysql_database: DatabaseInfo, shop: None) -> None:
    """Defence in depth: a read-only database's sessions are read-only on the server as well."""
    engine = MysqlEngine(mysql_config(mysql_database, read_only=True))
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connection() as conn:
                await conn.execute("DELETE FROM users", [])
        assert isinstance(engine.map_error(caught.value), PermissionDenied)
    finally:
        await engine.close()
