"""Engine failures map to the contract's gRPC codes on real resolver processes (docs/reference.md §7, §8): a
database that is down is UNAVAILABLE within its deadline and served again once it is back, by the
same resolver; a statement slower than `timeout_secs` is DEADLINE_EXCEEDED and leaves the pool
usable (pool_size = 1, so a leaked or broken connection would show)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from _resolver_process import ResolverProcesses
from conformance.backends import Backend, backend_for
from conformance.client import asc, cmp, expect_error, row
from harness.servers import MariaDBServer, PostgresServer

from dbmesh.resolver.v1 import resolver_pb2 as pb

DATABASE = "failing_db"
ROWS = [[1, "one"], [2, "two"]]
SLOW_VIEWS = {
    "postgresql": "CREATE VIEW slow AS SELECT 1 AS n FROM pg_sleep(5)",
    "mysql": "CREATE VIEW slow AS SELECT SLEEP(5) AS n",
    "sqlite": (
        "CREATE VIEW slow AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) "
        "SELECT max(n) AS n FROM c"
    ),
}
_SERVERS = {"postgresql": "pg", "mysql": "mysql"}
# Generous for a client: the resolver's own deadline is what is under test.
CLIENT_TIMEOUT = 30.0


@pytest.fixture
def resolver_processes(tmp_path: Path) -> Iterator[ResolverProcesses]:
    processes = ResolverProcesses(tmp_path)
    yield processes
    processes.close()


async def _load(backend: Backend, tmp_path: Path, **settings: object) -> Path:
    await backend.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
    placeholders = ", ".join(backend.placeholder(i) for i in (1, 2))
    await backend.executemany(f"INSERT INTO things (id, name) VALUES ({placeholders})", [tuple(r) for r in ROWS])
    config_path = tmp_path / "dbmesh.toml"
    config_path.write_text(backend.config_toml(DATABASE, **settings))
    return config_path


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
async def test_database_down_is_unavailable_then_served_again(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, resolver_processes: ResolverProcesses
) -> None:
    timeout_secs = 2
    server: PostgresServer | MariaDBServer = request.getfixturevalue(
        f"{'pg' if engine == 'postgresql' else 'mysql'}_private_server"
    )
    server.create_database(DATABASE)
    backend = backend_for(engine, server.info(DATABASE))
    try:
        config_path = await _load(backend, tmp_path, timeout_secs=timeout_secs, pool_size=2)
    finally:
        await backend.close()
    process = await resolver_processes.start(config_path, DATABASE)
    async with process.client(engine) as client:
        read = pb.QueryRequest(collection="things", columns=[pb.ColumnRef(name="id"), pb.ColumnRef(name="name")])
        read.order_by.append(asc("id"))
        assert await client.run(read) == [ROWS]

        server.stop()
        for call in (
            lambda: client.run(read, timeout=CLIENT_TIMEOUT),
            lambda: client.mutate("things", insert=[row(id=3, name="three")], timeout=CLIENT_TIMEOUT),
            lambda: client.mutate("things", delete=pb.Delete(predicate=cmp("id", "eq", 1)), timeout=CLIENT_TIMEOUT),
            lambda: client.begin(timeout=CLIENT_TIMEOUT),
        ):
            started = time.monotonic()
            await expect_error(grpc.StatusCode.UNAVAILABLE, call())
            elapsed = time.monotonic() - started
            assert elapsed < timeout_secs + 1, f"UNAVAILABLE after {elapsed:.2f}s (timeout_secs = {timeout_secs})"
        status = await client.status(timeout=CLIENT_TIMEOUT)
        assert not status.connected
        assert status.error

        server.start()
        assert await client.run(read, timeout=CLIENT_TIMEOUT) == [ROWS]
        assert await client.mutate("things", insert=[row(id=3, name="three")]) == (1, [])
        assert (await client.status()).connected


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
async def test_slow_statement_is_deadline_exceeded_and_the_pool_stays_usable(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, resolver_processes: ResolverProcesses
) -> None:
    if engine == "sqlite":
        backend = backend_for(engine, tmp_path / "failing.db")
    else:
        backend = backend_for(engine, request.getfixturevalue(f"{_SERVERS[engine]}_database"))
    try:
        config_path = await _load(backend, tmp_path, timeout_secs=1, pool_size=1)
        await backend.execute(SLOW_VIEWS[engine])
    finally:
        await backend.close()
    process = await resolver_processes.start(config_path, DATABASE)
    async with process.client(engine) as client:
        await expect_error(grpc.StatusCode.DEADLINE_EXCEEDED, client.rows("slow", ["n"], timeout=CLIENT_TIMEOUT))
        assert await client.rows("things", ["id", "name"], order_by=[asc("id")], timeout=CLIENT_TIMEOUT) == ROWS
        tx = await client.begin(timeout=CLIENT_TIMEOUT)
        call = client.rows("slow", ["n"], transaction_id=tx, timeout=CLIENT_TIMEOUT)
        await expect_error(grpc.StatusCode.DEADLINE_EXCEEDED, call)
        await client.rollback(transaction_id=tx, timeout=CLIENT_TIMEOUT)
        assert await client.rows("things", ["id"], timeout=CLIENT_TIMEOUT) == [[1], [2]]
