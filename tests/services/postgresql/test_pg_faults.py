"""Failures through the PostgreSQL resolver (docs/reference.md §8): a statement timeout is DEADLINE_EXCEEDED and
the connection stays usable; a database that is down, stopped behind a running resolver or not
answering at all is UNAVAILABLE within the deadline, naming the database and nothing secret; the
resolver recovers by itself once the database is back; replicas have pools of their own."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import grpc
import pytest
from harness.servers import DatabaseInfo, PostgresServer
from pg_support import StartResolver, cmp, cols, rows, run_sql

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc

SECRET = "s3cret-Pa55word"  # trust auth ignores it; it must never show up in an error

SCHEMA = """
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO items VALUES (1, 'one'), (2, 'two');
CREATE VIEW slow AS SELECT 1 AS x FROM pg_sleep(5);  -- pg_sleep() is void: no column of its own
CREATE VIEW backend AS SELECT pg_backend_pid() AS pid;
"""


async def names(stub: pb_grpc.ResolverStub, replica: str = "") -> list[str]:
    response = await stub.Query(pb.QueryRequest(collection="items", columns=cols("name"), replica=replica))
    return [r[0] for r in rows(response.row_sets[0])]


async def failure(
    stub: pb_grpc.ResolverStub, *, deadline: float = 10, **request: object
) -> tuple[grpc.StatusCode, str, float]:
    """The code, message and seconds of a Query expected to fail (the caller waits `deadline` seconds)."""
    start = time.perf_counter()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Query(pb.QueryRequest(**request), timeout=deadline)  # type: ignore[arg-type]
    return caught.value.code(), caught.value.details() or "", time.perf_counter() - start


def assert_nothing_secret(message: str, info: DatabaseInfo) -> None:
    assert SECRET not in message
    assert f"{info.port}" not in message
    assert "postgresql://" not in message


async def test_statement_timeout_keeps_the_connection(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    await run_sql(pg_database, SCHEMA)
    stub = await start_resolver(pg_database, timeout_secs=1, pool_size=1)
    pid = rows((await stub.Query(pb.QueryRequest(collection="backend", columns=cols("pid")))).row_sets[0])

    code, message, elapsed = await failure(stub, collection="slow", columns=cols("x"))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "'pg'" in message
    assert 0.9 < elapsed < 1.4  # the server cancelled it, not the resolver's backstop

    assert await names(stub) == ["one", "two"]
    again = rows((await stub.Query(pb.QueryRequest(collection="backend", columns=cols("pid")))).row_sets[0])
    assert again == pid  # the same session served on: the timeout did not cost the connection


async def test_database_stopped_and_restarted_behind_the_resolver(
    pg_private_server: PostgresServer, start_resolver: StartResolver
) -> None:
    info = pg_private_server.info()
    await run_sql(info, SCHEMA)
    stub = await start_resolver(info, timeout_secs=3, password=SECRET)
    assert await names(stub) == ["one", "two"]

    pg_private_server.stop()
    code, message, elapsed = await failure(stub, collection="items", columns=cols("name"))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "'pg'" in message
    assert_nothing_secret(message, info)
    assert elapsed < 3
    status = await stub.Status(pb.StatusRequest())
    assert not status.connected
    assert "'pg'" in status.error
    assert_nothing_secret(status.error, info)

    pg_private_server.start()
    assert await names(stub) == ["one", "two"]
    assert (await stub.Status(pb.StatusRequest())).connected


async def test_resolver_starts_while_the_database_is_down(
    pg_private_server: PostgresServer, start_resolver: StartResolver
) -> None:
    info = pg_private_server.info()
    await run_sql(info, SCHEMA)
    pg_private_server.stop()
    stub = await start_resolver(info, timeout_secs=3)
    caps = await stub.GetCapabilities(pb.GetCapabilitiesRequest())
    assert caps.engine == "postgresql"
    code, _, _ = await failure(stub, collection="items", columns=cols("name"))
    assert code == grpc.StatusCode.UNAVAILABLE

    pg_private_server.start()
    assert await names(stub) == ["one", "two"]


async def test_a_shorter_caller_deadline_is_honoured(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    """The caller's gRPC deadline is shorter than the statement timeout: the resolver gives up,
    discards the connection (its state is unknown) and serves the next request on a new one."""
    await run_sql(pg_database, SCHEMA)
    stub = await start_resolver(pg_database, timeout_secs=5, pool_size=1)
    code, _, elapsed = await failure(stub, collection="slow", columns=cols("x"), deadline=0.5)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 1
    await asyncio.sleep(0.6)  # the resolver's own backstop fires after the caller gave up
    assert await names(stub) == ["one", "two"]
    status = await stub.Status(pb.StatusRequest())
    assert status.connected and status.pool_in_use == 0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says anything (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


async def test_a_silent_server_is_unavailable_within_the_deadline(
    pg_database: DatabaseInfo, silent_port: int, start_resolver: StartResolver
) -> None:
    silent = DatabaseInfo("postgresql", "127.0.0.1", silent_port, "postgres", "", "test")
    stub = await start_resolver(silent, timeout_secs=1)
    code, message, elapsed = await failure(stub, collection="items", columns=cols("name"), deadline=5)
    assert code == grpc.StatusCode.UNAVAILABLE, message
    assert elapsed < 1.5


async def test_replicas_have_their_own_pools(
    pg_database: DatabaseInfo, silent_port: int, start_resolver: StartResolver
) -> None:
    await run_sql(pg_database, SCHEMA)
    replica = f"127.0.0.1:{pg_database.port}"  # the same server, reached through a replica pool
    closed = f"127.0.0.1:{_closed_port()}"
    stub = await start_resolver(pg_database, replicas=[replica, closed])
    response = await stub.Query(pb.QueryRequest(collection="items", columns=cols("name"), replica=replica))
    assert rows(response.row_sets[0]) == [["one"], ["two"]]
    assert response.statements[0].target == replica

    code, message, _ = await failure(stub, collection="items", columns=cols("name"), replica=closed)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "replica" in message
    assert not (await stub.Status(pb.StatusRequest(replica=closed))).connected
    assert (await stub.Status(pb.StatusRequest(replica=replica))).connected
    assert await names(stub) == ["one", "two"]  # the primary is unaffected

    code, _, _ = await failure(stub, collection="items", columns=cols("name"), replica="127.0.0.1:1")
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_concurrent_queries_share_a_small_pool(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    await run_sql(pg_database, SCHEMA)
    stub = await start_resolver(pg_database, pool_size=2)
    results = await asyncio.gather(
        *(
            stub.Query(pb.QueryRequest(collection="items", columns=cols("name"), predicate=cmp("id", 1, i % 2 + 1)))
            for i in range(50)
        )
    )
    assert [rows(r.row_sets[0]) for r in results] == [[["one"]] if i % 2 == 0 else [["two"]] for i in range(50)]
    status = await stub.Status(pb.StatusRequest())
    assert (status.pool_in_use, status.pool_size) == (0, 2)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
