"""Transactions and two-phase commit with XA on MariaDB (docs/reference.md §8): a prepared transaction outlives
its session, its resolver and a server restart, and is committed or rolled back by global id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from harness.servers import DatabaseInfo, MariaDBServer
from mysql_resolver import Resolver, StartResolver, mysql_config, row

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.engines.mysql import MysqlEngine

Sql = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture
def table(sql: Sql) -> None:
    sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")


async def insert(resolver: Resolver, transaction_id: str, *ids: int) -> None:
    rows = [row(id=i, v=f"v{i}") for i in ids]
    await resolver.mutate("t", insert=pb.Insert(rows=rows), transaction_id=transaction_id)


async def recovered(resolver: Resolver) -> set[str]:
    response = await resolver.stub.Recover(pb.RecoverRequest(), timeout=10)
    return {t.global_id for t in response.transactions}


async def test_commit_and_rollback(resolver: Resolver, table: None, sql: Sql) -> None:
    kept = (await resolver.stub.Begin(pb.BeginRequest(), timeout=10)).transaction_id
    await insert(resolver, kept, 1)
    seen = await resolver.rows("t", ["id"], transaction_id=kept)
    assert seen == [[1]] and sql("SELECT COUNT(*) FROM t") == [(0,)]
    await resolver.stub.Commit(pb.CommitRequest(transaction_id=kept), timeout=10)
    dropped = (await resolver.stub.Begin(pb.BeginRequest(), timeout=10)).transaction_id
    await insert(resolver, dropped, 2)
    await resolver.stub.Rollback(pb.RollbackRequest(transaction_id=dropped), timeout=10)
    assert sql("SELECT id FROM t") == [(1,)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.stub.Commit(pb.CommitRequest(transaction_id=dropped), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_xa_without_prepare_commits_in_one_phase(resolver: Resolver, table: None, sql: Sql) -> None:
    committed = (await resolver.stub.Begin(pb.BeginRequest(global_id="one.phase:1"), timeout=10)).transaction_id
    await insert(resolver, committed, 1)
    await resolver.stub.Commit(pb.CommitRequest(transaction_id=committed), timeout=10)
    rolled = (await resolver.stub.Begin(pb.BeginRequest(global_id="one.phase:2"), timeout=10)).transaction_id
    await insert(resolver, rolled, 2)
    await resolver.stub.Rollback(pb.RollbackRequest(transaction_id=rolled), timeout=10)
    assert sql("SELECT id FROM t") == [(1,)]
    assert await recovered(resolver) == set()
    assert await resolver.rows("t", ["id"]) == [[1]]  # the pool's connections are clean


async def test_prepare_then_commit_or_rollback_by_global_id(
    resolver: Resolver, start_resolver: StartResolver, mysql_database: DatabaseInfo, table: None, sql: Sql
) -> None:
    for gid, ids in (("dbmesh-tx-commit", (1, 2)), ("dbmesh-tx-rollback", (3,))):
        tid = (await resolver.stub.Begin(pb.BeginRequest(global_id=gid), timeout=10)).transaction_id
        await insert(resolver, tid, *ids)
        prepared = await resolver.stub.Prepare(pb.PrepareRequest(transaction_id=tid), timeout=10)
        assert prepared.global_id == gid
    assert await recovered(resolver) >= {"dbmesh-tx-commit", "dbmesh-tx-rollback"}
    assert sql("SELECT COUNT(*) FROM t") == [(0,)]
    # Another resolver process (here: another server instance) finishes them.
    other = await start_resolver(mysql_database)
    await other.stub.Commit(pb.CommitRequest(global_id="dbmesh-tx-commit"), timeout=10)
    await other.stub.Rollback(pb.RollbackRequest(global_id="dbmesh-tx-rollback"), timeout=10)
    assert sql("SELECT id FROM t ORDER BY id") == [(1,), (2,)]
    assert await recovered(resolver) & {"dbmesh-tx-commit", "dbmesh-tx-rollback"} == set()
    for request in (pb.CommitRequest(global_id="dbmesh-tx-commit"), pb.CommitRequest(global_id="never")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await other.stub.Commit(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_commit_right_after_prepare(mysql_database: DatabaseInfo, table: None, sql: Sql) -> None:
    """MariaDB detaches a prepared transaction a moment after its session closes; a commit sent at
    once on an idle pooled connection must not miss it (it gets XAER_NOTA without the engine's
    COM_QUIT on release and its brief wait)."""
    engine = MysqlEngine(mysql_config(mysql_database, pool_size=3))
    try:
        for i in range(20):
            warm = [await engine.acquire() for _ in range(2)]
            for conn in warm:
                await engine.release(conn)
            conn = await engine.acquire()
            await engine.begin(conn, f"dbmesh-quick{i}")
            await conn.execute("INSERT INTO t (id) VALUES (%(p1)s)", [i])
            await engine.prepare(conn, f"dbmesh-quick{i}")
            await engine.release(conn)
            await engine.commit_prepared(f"dbmesh-quick{i}")
    finally:
        await engine.close()
    assert sql("SELECT COUNT(*) FROM t") == [(20,)]


async def test_prepared_transaction_that_wrote_nothing(resolver: Resolver, table: None) -> None:
    tid = (await resolver.stub.Begin(pb.BeginRequest(global_id="reader"), timeout=10)).transaction_id
    assert await resolver.rows("t", ["id"], transaction_id=tid) == []
    await resolver.stub.Prepare(pb.PrepareRequest(transaction_id=tid), timeout=10)
    await resolver.stub.Commit(pb.CommitRequest(global_id="reader"), timeout=10)


async def test_duplicate_global_id(resolver: Resolver, table: None) -> None:
    tid = (await resolver.stub.Begin(pb.BeginRequest(global_id="dup"), timeout=10)).transaction_id
    await insert(resolver, tid, 1)
    await resolver.stub.Prepare(pb.PrepareRequest(transaction_id=tid), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.stub.Begin(pb.BeginRequest(global_id="dup"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    await resolver.stub.Rollback(pb.RollbackRequest(global_id="dup"), timeout=10)


async def test_prepared_transaction_survives_a_server_restart(
    mysql_private_server: MariaDBServer, start_resolver: StartResolver
) -> None:
    server = mysql_private_server
    server.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "test")
    resolver = await start_resolver(server.info(), timeout_secs=5)
    tid = (await resolver.stub.Begin(pb.BeginRequest(global_id="dbmesh-durable"), timeout=10)).transaction_id
    await insert(resolver, tid, 7)
    await resolver.stub.Prepare(pb.PrepareRequest(transaction_id=tid), timeout=10)
    server.kill()
    server.start()
    assert "dbmesh-durable" in await recovered(resolver)
    await resolver.stub.Commit(pb.CommitRequest(global_id="dbmesh-durable"), timeout=10)
    assert server.execute("SELECT id, v FROM t", "test") == [(7, "v7")]
