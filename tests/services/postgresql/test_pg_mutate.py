"""Writes, transactions and two-phase commit through the PostgreSQL resolver (docs/reference.md §8): returning,
upsert, constraint errors and their codes, PREPARE TRANSACTION then COMMIT/ROLLBACK PREPARED by
global id (from any resolver), recovery listing, and a read-only database refusing writes."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import grpc
import pytest
from harness.servers import DatabaseInfo
from pg_support import StartResolver, cmp, cols, rows, run_sql

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services.values import to_proto

SCHEMA = """
CREATE TABLE teams (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE members (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team integer REFERENCES teams (id),
    email varchar(20) UNIQUE NOT NULL,
    score numeric(6, 2) CHECK (score >= 0),
    joined timestamptz NOT NULL DEFAULT now(),
    local_joined timestamp
);
INSERT INTO teams VALUES (1, 'one'), (2, 'two');
"""

RETURNING = cols("email", "score", "team", "local_joined")


def row(**values: object) -> pb.Row:
    return pb.Row(values={k: to_proto(v) for k, v in values.items()})


async def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value.code()


@pytest.fixture
async def stub(pg_database: DatabaseInfo, start_resolver: StartResolver) -> pb_grpc.ResolverStub:
    await run_sql(pg_database, SCHEMA)
    return await start_resolver(pg_database)


async def emails(stub: pb_grpc.ResolverStub, transaction_id: str = "") -> list[str]:
    response = await stub.Query(
        pb.QueryRequest(
            collection="members",
            columns=cols("email"),
            order_by=[pb.OrderBy(column="email")],
            transaction_id=transaction_id,
        )
    )
    return [r[0] for r in rows(response.row_sets[0])]


async def test_insert_upsert_update_delete_with_returning(stub: pb_grpc.ResolverStub) -> None:
    inserted = await stub.Mutate(
        pb.MutateRequest(
            collection="members",
            insert=pb.Insert(
                rows=[
                    row(email="a@x", score=Decimal("1.5"), team=1, local_joined="2024-01-02T03:04:05+01:00"),
                    row(email="b@x", score=None, team=2, local_joined=None),
                ]
            ),
            returning=[*RETURNING, pb.ColumnRef(name="id")],
        )
    )
    assert inserted.affected_rows == 2
    got = rows(inserted.returning)
    assert [r[:4] for r in got] == [["a@x", "1.50", 1, "2024-01-02T02:04:05Z"], ["b@x", None, 2, None]]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r[4]) for r in got)
    assert inserted.statements[0].sql.startswith('INSERT INTO "members"')

    upserted = await stub.Mutate(
        pb.MutateRequest(
            collection="members",
            upsert=pb.Upsert(
                rows=[row(id=got[0][4], email="a@x", score=9), row(id=uuid.uuid4(), email="c@x", score=3)],
                update_columns=["score"],
            ),
            returning=RETURNING,
        )
    )
    assert upserted.affected_rows == 2
    assert rows(upserted.returning) == [["a@x", "9.00", 1, "2024-01-02T02:04:05Z"], ["c@x", "3.00", None, None]]

    updated = await stub.Mutate(
        pb.MutateRequest(
            collection="members",
            update=pb.Update(predicate=cmp("score", pb.OPERATOR_GTE, 3), set={"team": to_proto(2)}),
            returning=cols("email", "team"),
        )
    )
    assert updated.affected_rows == 2
    assert sorted(rows(updated.returning)) == [["a@x", 2], ["c@x", 2]]

    deleted = await stub.Mutate(
        pb.MutateRequest(collection="members", delete=pb.Delete(predicate=cmp("email", pb.OPERATOR_LIKE, "%@x")))
    )
    assert deleted.affected_rows == 3
    assert await emails(stub) == []


async def test_constraint_errors_have_their_codes(stub: pb_grpc.ResolverStub) -> None:
    def insert(**values: object) -> object:
        return stub.Mutate(pb.MutateRequest(collection="members", insert=pb.Insert(rows=[row(**values)])))

    await insert(email="a@x", team=1)
    assert await code_of(insert(email="a@x", team=1)) == grpc.StatusCode.ALREADY_EXISTS
    assert await code_of(insert(email="b@x", team=99)) == grpc.StatusCode.FAILED_PRECONDITION
    assert await code_of(insert(email=None)) == grpc.StatusCode.FAILED_PRECONDITION
    assert await code_of(insert(email="c@x", score=-1)) == grpc.StatusCode.FAILED_PRECONDITION
    assert await code_of(insert(email="much-too-long@example.com")) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(insert(email="d@x", score=123456)) == grpc.StatusCode.INVALID_ARGUMENT
    assert await emails(stub) == ["a@x"]  # each failed write rolled back, the resolver still serves


async def test_transaction_commit_and_rollback(stub: pb_grpc.ResolverStub) -> None:
    for commit in (False, True):
        tx = (await stub.Begin(pb.BeginRequest())).transaction_id
        await stub.Mutate(
            pb.MutateRequest(collection="members", insert=pb.Insert(rows=[row(email="t@x")]), transaction_id=tx)
        )
        assert await emails(stub, tx) == ["t@x"]
        assert await emails(stub) == []  # not visible outside the transaction yet
        if commit:
            await stub.Commit(pb.CommitRequest(transaction_id=tx))
        else:
            await stub.Rollback(pb.RollbackRequest(transaction_id=tx))
    assert await emails(stub) == ["t@x"]
    assert await code_of(stub.Commit(pb.CommitRequest(transaction_id="gone"))) == grpc.StatusCode.NOT_FOUND


async def test_two_phase_commit_by_global_id(
    pg_database: DatabaseInfo, start_resolver: StartResolver, stub: pb_grpc.ResolverStub
) -> None:
    for global_id, email in (("dbmesh:commit.1", "commit@x"), ("dbmesh:rollback-2", "rollback@x")):
        tx = (await stub.Begin(pb.BeginRequest(global_id=global_id))).transaction_id
        await stub.Mutate(
            pb.MutateRequest(collection="members", insert=pb.Insert(rows=[row(email=email)]), transaction_id=tx)
        )
        prepared = await stub.Prepare(pb.PrepareRequest(transaction_id=tx))
        assert prepared.global_id == global_id
    assert await emails(stub) == []  # prepared, not committed

    # Any resolver of the database sees and finishes them: here a second one.
    other = await start_resolver(pg_database)
    recovered = (await other.Recover(pb.RecoverRequest())).transactions
    assert [t.global_id for t in recovered] == ["dbmesh:commit.1", "dbmesh:rollback-2"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", t.prepared_at) for t in recovered)

    await other.Commit(pb.CommitRequest(global_id="dbmesh:commit.1"))
    await other.Rollback(pb.RollbackRequest(global_id="dbmesh:rollback-2"))
    assert await emails(stub) == ["commit@x"]
    assert list((await stub.Recover(pb.RecoverRequest())).transactions) == []

    for call in (
        stub.Commit(pb.CommitRequest(global_id="dbmesh:commit.1")),
        stub.Rollback(pb.RollbackRequest(global_id="never-prepared")),
    ):
        assert await code_of(call) == grpc.StatusCode.NOT_FOUND


async def test_prepare_failure_rolls_back(stub: pb_grpc.ResolverStub) -> None:
    first = (await stub.Begin(pb.BeginRequest(global_id="dup"))).transaction_id
    await stub.Prepare(pb.PrepareRequest(transaction_id=first))
    second = (await stub.Begin(pb.BeginRequest(global_id="dup"))).transaction_id
    await stub.Mutate(
        pb.MutateRequest(collection="members", insert=pb.Insert(rows=[row(email="lost@x")]), transaction_id=second)
    )
    assert await code_of(stub.Prepare(pb.PrepareRequest(transaction_id=second))) == grpc.StatusCode.ALREADY_EXISTS
    await stub.Rollback(pb.RollbackRequest(global_id="dup"))
    assert await emails(stub) == []
    assert await code_of(stub.Begin(pb.BeginRequest(global_id="bad id'"))) == grpc.StatusCode.INVALID_ARGUMENT


async def test_read_only_database_refuses_writes(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    await run_sql(pg_database, SCHEMA)
    stub = await start_resolver(pg_database, read_only=True)
    caps = await stub.GetCapabilities(pb.GetCapabilitiesRequest())
    assert caps.read_only and not caps.two_phase_commit and not caps.transactions
    write = stub.Mutate(pb.MutateRequest(collection="teams", insert=pb.Insert(rows=[row(id=3, name="three")])))
    assert await code_of(write) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(stub.Begin(pb.BeginRequest())) == grpc.StatusCode.PERMISSION_DENIED
    response = await stub.Query(pb.QueryRequest(collection="teams", columns=cols("name")))
    assert rows(response.row_sets[0]) == [["one"], ["two"]]


async def test_read_only_sessions_are_read_only_on_the_server(pg_database: DatabaseInfo) -> None:
    """Defence in depth: even a statement that got past the servicer is refused by PostgreSQL."""
    from pg_support import pg_config

    from dbmesh.services.engines import create_engine

    await run_sql(pg_database, SCHEMA)
    engine = create_engine(pg_config(pg_database, read_only=True))
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connection() as conn:
                await conn.execute("INSERT INTO teams VALUES ($1, $2)", [3, "three"])
        assert engine.map_error(caught.value).code == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await engine.close()
