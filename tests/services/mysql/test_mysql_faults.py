"""Failures on MariaDB (docs/reference.md §7, §8): a slow statement is stopped by the server and the connection
stays usable; a server that goes away gives UNAVAILABLE within the deadline, and the resolver
recovers by itself when it is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from harness.servers import DatabaseInfo, MariaDBServer
from mysql_resolver import StartResolver

from dbmesh.resolver.v1 import resolver_pb2 as pb

Sql = Callable[[str], list[tuple[Any, ...]]]


async def expect_code(call: Any, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details() or ""


async def test_statement_timeout(mysql_database: DatabaseInfo, start_resolver: StartResolver, sql: Sql) -> None:
    sql("CREATE TABLE t (id INT PRIMARY KEY);\nINSERT INTO t VALUES (1);\nCREATE VIEW slow AS SELECT SLEEP(5) AS x")
    resolver = await start_resolver(mysql_database, timeout_secs=1, pool_size=1)
    started = time.monotonic()
    details = await expect_code(resolver.query("slow", ["x"]), grpc.StatusCode.DEADLINE_EXCEEDED)
    assert time.monotonic() - started < 1.5
    assert "database 'shop'" in details
    # The server stopped the statement; the one pooled connection is still good.
    status = await resolver.stub.Status(pb.StatusRequest(), timeout=5)
    assert status.connected and status.pool_size == 1
    assert await resolver.rows("t", ["id"]) == [[1]]
    running = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%slow%' AND ID <> CONNECTION_ID()"
    assert sql(running) == [(0,)]


def _no_secrets(text: str, server: MariaDBServer) -> None:
    assert str(server.port) not in text and "127.0.0.1" not in text


async def test_server_stopped_behind_a_running_resolver(
    mysql_private_server: MariaDBServer, start_resolver: StartResolver
) -> None:
    server = mysql_private_server
    server.execute("CREATE TABLE t (id INT PRIMARY KEY)", "test")
    server.execute("INSERT INTO t VALUES (1)", "test")
    resolver = await start_resolver(server.info(), timeout_secs=2, pool_size=2)
    assert await resolver.rows("t", ["id"]) == [[1]]
    server.stop()
    for _ in range(3):  # every pooled connection is found dead, not handed out
        started = time.monotonic()
        details = await expect_code(resolver.rows("t", ["id"]), grpc.StatusCode.UNAVAILABLE)
        assert time.monotonic() - started < 2.5
        assert "database 'shop'" in details
        _no_secrets(details, server)
    status = await resolver.stub.Status(pb.StatusRequest(), timeout=5)
    assert not status.connected and "database 'shop'" in status.error
    _no_secrets(status.error, server)
    server.start()
    assert await resolver.rows("t", ["id"]) == [[1]]
    status = await resolver.stub.Status(pb.StatusRequest(), timeout=5)
    assert status.connected and "MariaDB" in status.server_version and status.engine == "mysql"


async def test_server_killed_mid_transaction(
    mysql_private_server: MariaDBServer, start_resolver: StartResolver
) -> None:
    server = mysql_private_server
    server.execute("CREATE TABLE t (id INT PRIMARY KEY)", "test")
    resolver = await start_resolver(server.info(), timeout_secs=5, pool_size=1)
    assert await resolver.rows("t", ["id"]) == []  # loads the catalog while a connection is free
    tid = (await resolver.stub.Begin(pb.BeginRequest(), timeout=5)).transaction_id
    server.kill()
    server.start()
    insert = pb.Insert(rows=[pb.Row(values={"id": pb.Value(int=1)})])
    await expect_code(resolver.mutate("t", insert=insert, transaction_id=tid), grpc.StatusCode.UNAVAILABLE)
    await expect_code(
        resolver.stub.Commit(pb.CommitRequest(transaction_id=tid), timeout=5), grpc.StatusCode.UNAVAILABLE
    )
    # The broken connection was discarded: the pool of one serves again.
    assert await resolver.rows("t", ["id"]) == []


async def test_resolver_starts_while_the_server_is_down(
    mysql_private_server: MariaDBServer, start_resolver: StartResolver
) -> None:
    server = mysql_private_server
    server.execute("CREATE TABLE t (id INT PRIMARY KEY)", "test")
    server.stop()
    resolver = await start_resolver(server.info(), timeout_secs=2)
    await expect_code(resolver.stub.GetSchema(pb.GetSchemaRequest(), timeout=5), grpc.StatusCode.UNAVAILABLE)
    server.start()
    schema = await resolver.stub.GetSchema(pb.GetSchemaRequest(), timeout=5)
    assert [c.name for c in schema.collections] == ["t"]


async def test_replica_reads_use_their_own_pool(
    mysql_database: DatabaseInfo, start_resolver: StartResolver, sql: Sql
) -> None:
    sql("CREATE TABLE t (id INT PRIMARY KEY);\nINSERT INTO t VALUES (1)")
    replica = f"{mysql_database.host}:{mysql_database.port}"  # the same server, by address
    resolver = await start_resolver(mysql_database, replicas=[replica])
    response = await resolver.query("t", ["id"], replica=replica)
    assert [s.target for s in response.statements] == [replica]
    status = await resolver.stub.Status(pb.StatusRequest(replica=replica), timeout=5)
    assert status.connected
    await expect_code(resolver.query("t", ["id"], replica="10.0.0.1:3306"), grpc.StatusCode.INVALID_ARGUMENT)
