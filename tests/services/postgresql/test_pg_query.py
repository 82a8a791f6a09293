"""Reads through the PostgreSQL resolver (docs/reference.md §8): canonical values, keyed batching with one row
set per variable set in order, key lists bound as one array (100,000 keys, one statement),
code-point ordering whatever the column's collation, case-sensitive LIKE and Unicode `_ilike`."""

from __future__ import annotations

import hashlib
import time
import uuid

import grpc
import pytest
from harness.servers import DatabaseInfo
from pg_support import StartResolver, cmp, cols, rows, run_sql

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.values import to_proto

PEOPLE = """
CREATE TABLE people (
    id integer PRIMARY KEY,
    team integer,
    name text COLLATE "und-x-icu" NOT NULL,
    score numeric(6, 2),
    uid uuid NOT NULL,
    seen timestamptz,
    local_seen timestamp,
    born date,
    doc jsonb,
    active boolean
);
INSERT INTO people VALUES
    (1, 1, 'b', 12.5, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2024-03-01 10:00:00+02', '2024-03-01 08:00:00',
     '1990-05-06', '{"k": [1, 2.5, "x"]}', true),
    (2, 1, 'B', NULL, '00000000-0000-0000-0000-000000000002', NULL, NULL, NULL, NULL, false),
    (3, 2, 'a', 0.1, '00000000-0000-0000-0000-000000000003', NULL, NULL, '2001-01-01', 'null', NULL),
    (4, 2, 'A', 7, '00000000-0000-0000-0000-000000000004', NULL, NULL, NULL, NULL, NULL),
    (5, 2, 'École', 3, '00000000-0000-0000-0000-000000000005', '2023-12-31 23:59:59.5+00', NULL, NULL, NULL, NULL),
    (6, NULL, 'ΟΔΟΣ', 1, '00000000-0000-0000-0000-000000000006', NULL, NULL, NULL, NULL, NULL);
"""

ALL = ("id", "team", "name", "score", "uid", "seen", "local_seen", "born", "doc", "active")


@pytest.fixture
async def people(pg_database: DatabaseInfo) -> DatabaseInfo:
    await run_sql(pg_database, PEOPLE)
    return pg_database


async def test_values_come_back_canonical(people: DatabaseInfo, start_resolver: StartResolver) -> None:
    stub = await start_resolver(people)
    response = await stub.Query(
        pb.QueryRequest(collection="people", columns=cols(*ALL), predicate=cmp("id", pb.OPERATOR_IN, values=[1, 2]))
    )
    assert len(response.row_sets) == 1
    assert rows(response.row_sets[0]) == [
        [
            1,
            1,
            "b",
            "12.50",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "2024-03-01T08:00:00Z",
            "2024-03-01T08:00:00Z",
            "1990-05-06",
            {"k": [1, 2.5, "x"]},
            True,
        ],
        [2, 1, "B", None, "00000000-0000-0000-0000-000000000002", None, None, None, None, False],
    ]
    assert "$1" in response.statements[0].sql


async def test_filters_bind_each_type(people: DatabaseInfo, start_resolver: StartResolver) -> None:
    stub = await start_resolver(people)

    async def ids(expr: pb.Expression) -> list[int]:
        response = await stub.Query(pb.QueryRequest(collection="people", columns=cols("id"), predicate=expr))
        return [r[0] for r in rows(response.row_sets[0])]

    assert await ids(cmp("uid", pb.OPERATOR_EQ, uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))) == [1]
    assert await ids(cmp("uid", pb.OPERATOR_EQ, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")) == [1]
    assert await ids(cmp("score", pb.OPERATOR_GT, 7)) == [1]
    assert await ids(cmp("score", pb.OPERATOR_EQ, "0.10")) == [3]
    assert await ids(cmp("seen", pb.OPERATOR_EQ, "2024-03-01T08:00:00Z")) == [1]
    assert await ids(cmp("local_seen", pb.OPERATOR_EQ, "2024-03-01T10:00:00+02:00")) == [1]
    assert await ids(cmp("born", pb.OPERATOR_LT, "2000-01-01")) == [1]
    assert await ids(cmp("seen", pb.OPERATOR_YEAR, 2023)) == [5]
    assert await ids(cmp("born", pb.OPERATOR_YEAR, 2001)) == [3]
    assert await ids(cmp("active", pb.OPERATOR_EQ, False)) == [2]
    assert await ids(cmp("active", pb.OPERATOR_IS_NULL, True)) == [3, 4, 5, 6]
    assert await ids(cmp("team", pb.OPERATOR_NIN, values=[1])) == [3, 4, 5]
    assert await ids(cmp("team", pb.OPERATOR_IN, values=[])) == []
    assert await ids(cmp("uid", pb.OPERATOR_LIKE, "%0005")) == [5]


async def test_strings_compare_and_sort_by_code_point(people: DatabaseInfo, start_resolver: StartResolver) -> None:
    """The column's ICU collation sorts a < A < b < B; the contract says code-point order."""
    stub = await start_resolver(people)

    async def names(expr: pb.Expression | None = None, desc: bool = False) -> list[str]:
        direction = pb.DIRECTION_DESC if desc else pb.DIRECTION_ASC
        request = pb.QueryRequest(
            collection="people", columns=cols("name"), order_by=[pb.OrderBy(column="name", direction=direction)]
        )
        if expr is not None:
            request.predicate.CopyFrom(expr)
        return [r[0] for r in rows((await stub.Query(request)).row_sets[0])]

    assert await names() == ["A", "B", "a", "b", "École", "ΟΔΟΣ"]
    assert await names(desc=True) == ["ΟΔΟΣ", "École", "b", "a", "B", "A"]
    assert await names(cmp("name", pb.OPERATOR_GT, "Z")) == ["a", "b", "École", "ΟΔΟΣ"]
    assert await names(cmp("name", pb.OPERATOR_EQ, "a")) == ["a"]
    assert await names(cmp("name", pb.OPERATOR_LIKE, "a%")) == ["a"]
    assert await names(cmp("name", pb.OPERATOR_ILIKE, "a%")) == ["A", "a"]
    assert await names(cmp("name", pb.OPERATOR_ILIKE, "%cole")) == ["École"]
    assert await names(cmp("name", pb.OPERATOR_ILIKE, "éCOLE")) == ["École"]
    assert await names(cmp("name", pb.OPERATOR_ILIKE, "%ς")) == ["ΟΔΟΣ"]  # final sigma, as Python lowers
    assert await names(cmp("name", pb.OPERATOR_LIKE, "\\%")) == []


async def test_nulls_last_ascending_first_descending(people: DatabaseInfo, start_resolver: StartResolver) -> None:
    stub = await start_resolver(people)
    for direction, expected in ((pb.DIRECTION_ASC, [3, 6, 5, 4, 1, 2]), (pb.DIRECTION_DESC, [2, 1, 4, 5, 6, 3])):
        response = await stub.Query(
            pb.QueryRequest(
                collection="people", columns=cols("id"), order_by=[pb.OrderBy(column="score", direction=direction)]
            )
        )
        assert [r[0] for r in rows(response.row_sets[0])] == expected


async def test_variable_sets_batch_into_one_statement(people: DatabaseInfo, start_resolver: StartResolver) -> None:
    stub = await start_resolver(people)
    teams = [2, 1, 99, 2]
    request = pb.QueryRequest(
        collection="people",
        columns=cols("id"),
        predicate=pb.Expression(
            **{"and": pb.And(expressions=[cmp("team", pb.OPERATOR_EQ, variable="t"), cmp("id", pb.OPERATOR_NEQ, 4)])}
        ),
        order_by=[pb.OrderBy(column="id", direction=pb.DIRECTION_DESC)],
        variables=[pb.VariableSet(values={"t": to_proto(t)}) for t in teams],
    )
    response = await stub.Query(request)
    assert [[r[0] for r in rows(s)] for s in response.row_sets] == [[5, 3], [2, 1], [], [5, 3]]
    assert len(response.statements) == 1
    assert "ANY($" in response.statements[0].sql

    request.limit = 1
    request.offset = 1
    response = await stub.Query(request)
    assert [[r[0] for r in rows(s)] for s in response.row_sets] == [[3], [1], [], [3]]
    assert len(response.statements) == 1


async def test_composite_keys_batch_into_one_statement(
    pg_database: DatabaseInfo, start_resolver: StartResolver
) -> None:
    await run_sql(
        pg_database,
        "CREATE TABLE pairs (a integer, b varchar(10), v numeric(4, 1), PRIMARY KEY (a, b));"
        "INSERT INTO pairs SELECT i % 50, 'k' || (i / 50), i FROM generate_series(0, 999) i;",
    )
    stub = await start_resolver(pg_database)
    keys = [(a, f"k{b}") for a in range(50) for b in range(25)] + [(7, "missing")]
    response = await stub.Query(
        pb.QueryRequest(
            collection="pairs",
            columns=cols("v"),
            predicate=pb.Expression(
                **{
                    "and": pb.And(
                        expressions=[cmp("a", pb.OPERATOR_EQ, variable="a"), cmp("b", pb.OPERATOR_EQ, variable="b")]
                    )
                }
            ),
            variables=[pb.VariableSet(values={"a": to_proto(a), "b": to_proto(b)}) for a, b in keys],
        )
    )
    assert len(response.statements) == 1
    assert "unnest(" in response.statements[0].sql
    got = [rows(s) for s in response.row_sets]
    assert got[0] == [["0.0"]] and got[1] == [["50.0"]] and got[26] == [["51.0"]]
    assert got[-1] == []
    assert sum(len(g) for g in got) == 1000


async def test_hundred_thousand_keys_in_one_statement(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    """The keyed batch binds one array, whatever its length: no chunking at 32,767 parameters."""
    await run_sql(
        pg_database,
        "CREATE TABLE tokens (id bigint PRIMARY KEY, uid uuid UNIQUE NOT NULL, n integer NOT NULL);"
        "INSERT INTO tokens SELECT i * 7, md5(i::text)::uuid, i FROM generate_series(1, 2000) i;",
    )
    stub = await start_resolver(pg_database, timeout_secs=30)
    # Integer keys keep the request under gRPC's default 4 MB receive limit.
    request = pb.QueryRequest(
        collection="tokens",
        columns=cols("n"),
        predicate=cmp("id", pb.OPERATOR_EQ, variable="id"),
        variables=[pb.VariableSet(values={"id": pb.Value(int=i * 7)}) for i in range(1, 100_001)],
    )
    start = time.perf_counter()
    response = await stub.Query(request)
    elapsed = time.perf_counter() - start
    assert len(response.statements) == 1, [s.sql[:80] for s in response.statements]
    assert response.statements[0].rows == 2000
    assert len(response.row_sets) == 100_000
    assert rows(response.row_sets[0]) == [[1]] and rows(response.row_sets[1999]) == [[2000]]
    assert rows(response.row_sets[2000]) == []
    assert elapsed < 20

    # UUID keys bind as uuid[] (the server infers the array's type from the column).
    keys = [uuid.UUID(hashlib.md5(str(i).encode()).hexdigest()) for i in range(1, 50_001)]
    listed = await stub.Query(
        pb.QueryRequest(collection="tokens", columns=cols("n"), predicate=cmp("uid", pb.OPERATOR_IN, values=keys))
    )
    assert len(listed.statements) == 1
    assert listed.row_sets[0].row_count == 2000


async def test_unknown_names_are_invalid_argument(people: DatabaseInfo, start_resolver: StartResolver) -> None:
    stub = await start_resolver(people)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Query(pb.QueryRequest(collection="people", columns=cols("nope")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nope" in (caught.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Query(
            pb.QueryRequest(collection="people", columns=cols("id"), predicate=cmp("uid", pb.OPERATOR_EQ, "not-a-uuid"))
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_nondeterministic_collation_is_still_exact(
    pg_database: DatabaseInfo, start_resolver: StartResolver
) -> None:
    """Under a case-insensitive ICU collation PostgreSQL's own `=` ignores case and LIKE is refused;
    the resolver compares exactly, as on every engine."""
    await run_sql(
        pg_database,
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);"
        "CREATE TABLE words (id integer PRIMARY KEY, word text COLLATE ci NOT NULL);"
        "INSERT INTO words VALUES (1, 'a'), (2, 'A'), (3, 'b');"
        "CREATE TABLE tagged (grp integer, tag text COLLATE ci, PRIMARY KEY (grp, tag));"
        "INSERT INTO tagged VALUES (1, 'x'), (1, 'Y');",
    )
    stub = await start_resolver(pg_database)

    async def ids(expr: pb.Expression) -> list[int]:
        response = await stub.Query(pb.QueryRequest(collection="words", columns=cols("id"), predicate=expr))
        return [r[0] for r in rows(response.row_sets[0])]

    assert await ids(cmp("word", pb.OPERATOR_EQ, "a")) == [1]
    assert await ids(cmp("word", pb.OPERATOR_NEQ, "a")) == [2, 3]
    assert await ids(cmp("word", pb.OPERATOR_IN, values=["A", "b"])) == [2, 3]
    assert await ids(cmp("word", pb.OPERATOR_LIKE, "A%")) == [2]
    assert await ids(cmp("word", pb.OPERATOR_ILIKE, "A%")) == [1, 2]
    batched = await stub.Query(
        pb.QueryRequest(
            collection="words",
            columns=cols("id"),
            predicate=cmp("word", pb.OPERATOR_EQ, variable="w"),
            variables=[pb.VariableSet(values={"w": to_proto(w)}) for w in ("A", "a", "B")],
        )
    )
    assert [rows(s) for s in batched.row_sets] == [[[2]], [[1]], []]
    tagged = await stub.Query(
        pb.QueryRequest(
            collection="tagged",
            columns=cols("tag"),
            predicate=pb.Expression(
                **{
                    "and": pb.And(
                        expressions=[cmp("grp", pb.OPERATOR_EQ, variable="g"), cmp("tag", pb.OPERATOR_EQ, variable="t")]
                    )
                }
            ),
            variables=[pb.VariableSet(values={"g": to_proto(1), "t": to_proto(t)}) for t in ("X", "x", "Y", "y")],
        )
    )
    assert [rows(s) for s in tagged.row_sets] == [[], [["x"]], [["Y"]], []]
    assert len(tagged.statements) == 1
