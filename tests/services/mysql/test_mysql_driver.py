"""What the MySQL driver (asyncmy, services/engines/mysql.py) must get right, through a real resolver on
MariaDB (docs/reference.md §8): values read and written at the edges of their types, values escaped into the
statement that would break it if they were not, zero dates, and connections the server or the client ended
(killed by the server while idle, abandoned mid-statement by a cancelled call) replaced rather than reused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from harness.servers import DatabaseInfo
from mysql_resolver import Resolver, StartResolver, cmp, decode, row

from dbmesh.resolver.v1 import resolver_pb2 as pb

Sql = Callable[[str], list[tuple[Any, ...]]]

UNSIGNED_MAX = 18_446_744_073_709_551_615
NASTY = 'it\'s "quoted" \\ back\\slash \x00 nul \n\r\x1a %(p1)s %s 😀'
WIDE_DECIMAL = "12345678901234567890123456789012345.123456789012345678901234567890"


@pytest.fixture
def edges(sql: Sql) -> None:
    sql(
        """CREATE TABLE edges (id INT PRIMARY KEY, big BIGINT UNSIGNED, tiny TINYINT(1), d DECIMAL(65,30),
            dt6 DATETIME(6), dt3 DATETIME(3), blb BLOB, vb VARBINARY(8), txt TEXT, j JSON, f FLOAT, y YEAR);
        INSERT INTO edges VALUES
            (1, 18446744073709551615, 0, 12345678901234567890123456789012345.123456789012345678901234567890,
             '2024-02-29 23:59:59.999999', '1970-01-01 00:00:00.001', x'00ff10', x'c3a9', 'été', '{"k": "ü\\\\n"}',
             0.5, 2024),
            (2, 9223372036854775807, NULL, -0.000000000000000000000000000001, '9999-12-31 23:59:59',
             NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""
    )


async def test_values_at_the_edges_of_their_types(resolver: Resolver, edges: None) -> None:
    columns = ["id", "big", "tiny", "d", "dt6", "dt3", "blb", "vb", "txt", "j", "f", "y"]
    assert await resolver.rows("edges", columns) == [
        [
            1,
            UNSIGNED_MAX,
            False,
            WIDE_DECIMAL,
            "2024-02-29T23:59:59.999999Z",
            "1970-01-01T00:00:00.001000Z",
            "\x00\ufffd\x10",
            "é",
            "été",
            {"k": "ü\n"},
            0.5,
            2024,
        ],
        [2, 2**63 - 1, None, "-0.000000000000000000000000000001", "9999-12-31T23:59:59Z", *[None] * 7],
    ]


@pytest.mark.parametrize(
    ("column", "operand", "found"),
    [
        ("big", pb.Value(int=2**63 - 1), 2),
        ("d", pb.Value(decimal=WIDE_DECIMAL), 1),
        ("d", pb.Value(decimal="-1E-30"), 2),
        ("dt6", pb.Value(datetime="2024-03-01T00:59:59.999999+01:00"), 1),
        ("dt3", pb.Value(datetime="1970-01-01T00:00:00.001Z"), 1),
        ("tiny", pb.Value(boolean=False), 1),
        ("f", pb.Value(float=0.5), 1),
    ],
)
async def test_values_bound_at_the_edges_of_their_types(
    resolver: Resolver, edges: None, column: str, operand: pb.Value, found: int
) -> None:
    predicate = pb.Expression(
        comparison=pb.Comparison(column=column, operator=pb.OPERATOR_EQ, operand=pb.Operand(value=operand))
    )
    assert await resolver.rows("edges", ["id"], predicate=predicate) == [[found]]


async def test_strings_that_would_break_the_statement_are_escaped(resolver: Resolver, sql: Sql) -> None:
    sql("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
    inserted = await resolver.mutate("notes", ["id", "body"], insert=pb.Insert(rows=[row(id=1, body=NASTY)]))
    assert decode(inserted.returning) == [[1, NASTY]]
    assert sql("SELECT body FROM notes") == [(NASTY,)]
    assert await resolver.rows("notes", ["id"], predicate=cmp("body", pb.OPERATOR_EQ, NASTY)) == [[1]]
    assert await resolver.rows("notes", ["id"], predicate=cmp("body", pb.OPERATOR_IN, [NASTY, "x'"])) == [[1]]


async def test_zero_dates_fail_the_request_rather_than_become_a_date(resolver: Resolver, sql: Sql) -> None:
    """A zero date (stored by a client with a lax sql_mode) is no date: the driver hands it over as text
    exactly as aiomysql did, and the request fails, never with a made-up date: a DATE with the generic driver
    error (INTERNAL), a DATETIME as not a timestamp (INVALID_ARGUMENT); the other rows still read."""
    sql(
        """CREATE TABLE zero (id INT PRIMARY KEY, da DATE, dt DATETIME);
        SET STATEMENT sql_mode = '' FOR INSERT INTO zero VALUES
            (1, '0000-00-00', '0000-00-00 00:00:00'), (2, '2024-01-02', '2024-01-02 03:04:05')"""
    )
    assert sql("SELECT COUNT(*) FROM zero WHERE da = '0000-00-00'") == [(1,)]
    ok = cmp("id", pb.OPERATOR_EQ, 2)
    assert await resolver.rows("zero", ["da", "dt"], predicate=ok) == [["2024-01-02", "2024-01-02T03:04:05Z"]]
    for column in ("da", "dt"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await resolver.rows("zero", [column])
        assert (caught.value.code(), caught.value.details()) == ZERO_DATE_ERRORS[column]


DRIVER_FAILED = (
    "database 'shop': the request failed in the resolver's database driver (details are in the resolver's log)"
)
ZERO_DATE_ERRORS = {
    "da": (grpc.StatusCode.INTERNAL, DRIVER_FAILED),
    "dt": (grpc.StatusCode.INVALID_ARGUMENT, "'0000-00-00 00:00:00' is not an ISO 8601 timestamp"),
}


async def test_connections_the_server_killed_are_replaced(
    mysql_database: DatabaseInfo, start_resolver: StartResolver, sql: Sql
) -> None:
    sql("CREATE TABLE t (id INT PRIMARY KEY);\nINSERT INTO t VALUES (1)")
    resolver = await start_resolver(mysql_database, pool_size=2, timeout_secs=10)
    await asyncio.gather(*(resolver.rows("t", ["id"]) for _ in range(4)))
    before = _sessions(sql, mysql_database)
    assert 1 <= len(before) <= 2
    for session in before:
        sql(f"KILL CONNECTION {session}")
    for _ in range(500):  # KILL returns before the session has ended
        if not set(_sessions(sql, mysql_database)) & set(before):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail(f"sessions {before} still listed after KILL")
    await asyncio.sleep(0.05)  # the resolver's loop reads the end of each killed connection's stream
    assert await resolver.rows("t", ["id"]) == [[1]]
    after = _sessions(sql, mysql_database)
    assert after and not set(after) & set(before)


async def test_a_call_cancelled_mid_statement_leaves_the_pool_usable(
    mysql_database: DatabaseInfo, start_resolver: StartResolver, sql: Sql
) -> None:
    """The client gives up while the statement runs: the connection holds a half-read reply, so it is
    closed, and the pool's one place is free for the next call."""
    sql("CREATE TABLE t (id INT PRIMARY KEY);\nINSERT INTO t VALUES (1);\nCREATE VIEW slow AS SELECT SLEEP(3) AS x")
    resolver = await start_resolver(mysql_database, pool_size=1, timeout_secs=10)
    request = pb.QueryRequest(collection="slow", columns=[pb.ColumnRef(name="x")])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.stub.Query(request, timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert await resolver.rows("t", ["id"]) == [[1]]
    status = await resolver.stub.Status(pb.StatusRequest(), timeout=5)
    assert status.connected and status.pool_size == 1


def _sessions(sql: Sql, info: DatabaseInfo) -> list[int]:
    """The server's session ids on the test's database other than the checking one."""
    rows = sql(
        "SELECT ID FROM information_schema.PROCESSLIST"
        f" WHERE DB = '{info.database}' AND ID <> CONNECTION_ID() AND COMMAND <> 'Killed' ORDER BY ID"
    )
    return [int(r[0]) for r in rows]
