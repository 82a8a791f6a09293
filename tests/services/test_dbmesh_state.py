"""Resolver support for the transaction coordinator (docs/reference.md §10), on PostgreSQL and
MariaDB throwaway servers through real resolvers:

- Recover lists only dbmesh's prepared transactions of its own database: not a prepared
  transaction of another program in the same database (an id without the `dbmesh` prefix), and
  not dbmesh's own of another database on the same server (XA RECOVER is server-wide);
- EnsureSystemTables creates dbmesh's `dbmesh_` tables from the service's DDL, once, and they are
  then read and written like any table; bad requests are refused with exact messages.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conformance.backends import Backend, MysqlBackend, PostgresBackend, SqliteBackend, backend_for
from harness.config import config_toml, server_settings
from harness.servers import DatabaseInfo

from dbmesh.config import parse_config
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services import RunningServer, create_server


@contextlib.asynccontextmanager
async def resolver(name: str, settings: dict[str, object]) -> AsyncIterator[ResolverClient]:
    """A resolver service for one database, in this process, and a client of it."""
    config = parse_config(config_toml({name: settings}))
    running: RunningServer = await create_server(config.databases[0], "127.0.0.1:0")
    client = ResolverClient(config.databases[0].with_resolver(f"127.0.0.1:{running.port}"))
    try:
        yield client
    finally:
        await client.close()
        await running.stop(None)


async def _prepare_foreign(backend: Backend, gid: str) -> None:
    """A prepared transaction of another program, made with the engine's own statements."""
    if isinstance(backend, PostgresBackend):
        conn = await backend._connection()
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO t (id) VALUES (2)")
        await conn.execute(f"PREPARE TRANSACTION '{gid}'")
    else:
        assert isinstance(backend, MysqlBackend)
        conn = await backend._connection()
        async with conn.cursor() as cursor:
            # A branch that wrote something (MariaDB drops an empty one when its session ends).
            for sql in (f"XA START '{gid}'", "INSERT INTO t (id) VALUES (2)", f"XA END '{gid}'", f"XA PREPARE '{gid}'"):
                await cursor.execute(sql)
        conn.close()  # detaches the prepared branch from the session


async def _listed_by_server(backend: Backend) -> list[str]:
    """Every prepared transaction the server lists (for MariaDB: of every database)."""
    if isinstance(backend, PostgresBackend):
        return [r[0] for r in await backend.fetch("SELECT gid FROM pg_prepared_xacts")]
    return [
        (r[3] if isinstance(r[3], bytes) else str(r[3]).encode())[: r[1]].decode()
        for r in await backend.fetch("XA RECOVER")
    ]


async def _forget_foreign(backend: Backend, gid: str) -> None:
    sql = f"ROLLBACK PREPARED '{gid}'" if isinstance(backend, PostgresBackend) else f"XA ROLLBACK '{gid}'"
    await backend.execute(sql)


async def _prepare_ours(client: ResolverClient, gid: str) -> None:
    transaction = await client.begin(gid)
    await client.mutate(
        pb.MutateRequest(
            collection="t", insert=pb.Insert(rows=[pb.Row(values={"id": pb.Value(int=1)})]), transaction_id=transaction
        )
    )
    await client.prepare(transaction)


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
async def test_recover_lists_only_dbmesh_transactions_of_its_own_database(
    engine: str, request: pytest.FixtureRequest
) -> None:
    prefix = "pg" if engine == "postgresql" else "mysql"
    mine: DatabaseInfo = request.getfixturevalue(f"{prefix}_database")
    other: DatabaseInfo = request.getfixturevalue(f"{prefix}_module_database")
    backends = [backend_for(engine, mine), backend_for(engine, other)]
    for backend in backends:
        await backend.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)")
    ours, theirs, foreign = "dbmesh.test.ours", "dbmesh.test.other-database", "other-app.1"
    async with (
        resolver("mine", server_settings(mine)) as client,
        resolver("other", server_settings(other)) as neighbour,
    ):
        try:
            await _prepare_foreign(backends[0], foreign)
            await _prepare_ours(client, ours)
            await _prepare_ours(neighbour, theirs)
            assert {foreign, ours, theirs} <= set(await _listed_by_server(backends[0]))
            assert [t.global_id for t in await client.recover()] == [ours]
            assert [t.global_id for t in await neighbour.recover()] == [theirs]
            assert await client.finish_prepared(ours, commit=True)
            assert not await client.finish_prepared(ours, commit=True)  # no such prepared transaction
            assert await neighbour.finish_prepared(theirs, commit=False)
            assert await client.recover() == []
        finally:
            await _forget_foreign(backends[0], foreign)
            for backend in backends:
                with contextlib.suppress(Exception):
                    await backend.execute("DROP TABLE t")
                await backend.close()


async def _state_tables(client: ResolverClient, backend: Backend) -> None:
    assert await client.ensure_system_tables(["dbmesh_transactions", "dbmesh_coordinators"]) == [
        "dbmesh_transactions",
        "dbmesh_coordinators",
    ]
    assert await client.ensure_system_tables(["dbmesh_transactions"]) == []  # it exists: nothing to do
    row = {"owner": pb.Value(string="abc"), "lease_until": pb.Value(int=5), "started_at": pb.Value(int=1)}
    row["process"] = pb.Value(string="host pid 1")
    await client.mutate(pb.MutateRequest(collection="dbmesh_coordinators", insert=pb.Insert(rows=[pb.Row(values=row)])))
    response = await client.query(
        pb.QueryRequest(
            collection="dbmesh_coordinators", columns=[pb.ColumnRef(name="owner"), pb.ColumnRef(name="lease_until")]
        )
    )
    assert json.loads(response.row_sets[0].rows_json) == [["abc", 5]]
    assert await backend.fetch("SELECT owner, lease_until FROM dbmesh_coordinators") == [("abc", 5)]
    with pytest.raises(CallError) as refused:
        await client.ensure_system_tables(["dbmesh_transactions", "customers"])
    assert refused.value.code == "BAD_USER_INPUT"
    assert refused.value.message == (
        f"database {client.name!r} refused the request: unknown system table 'customers'"
        " (known: dbmesh_applied, dbmesh_coordinators, dbmesh_decisions, dbmesh_outbox, dbmesh_outbox_drainers,"
        " dbmesh_sync_leases, dbmesh_sync_state, dbmesh_transactions)"
    )


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
async def test_system_tables_are_created_once_and_then_used_like_any_table(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if engine == "sqlite":
        backend: Backend = SqliteBackend(tmp_path / "state.db")
        await backend.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        settings: dict[str, object] = {"engine": "sqlite", "path": str(tmp_path / "state.db")}
    else:
        info: DatabaseInfo = request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database")
        backend, settings = backend_for(engine, info), server_settings(info)
    try:
        async with resolver("state", settings) as client:
            await _state_tables(client, backend)
    finally:
        await backend.close()


async def test_system_tables_inside_a_transaction_roll_back_with_it(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "state.db")
    await backend.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    async with resolver("state", {"engine": "sqlite", "path": str(tmp_path / "state.db")}) as client:
        transaction = await client.begin()
        assert await client.ensure_system_tables(["dbmesh_decisions"], transaction) == ["dbmesh_decisions"]
        await client.rollback(transaction)
    assert await backend.fetch("SELECT name FROM sqlite_master WHERE name = 'dbmesh_decisions'") == []


async def test_mysql_refuses_system_tables_inside_a_transaction(mysql_database: DatabaseInfo) -> None:
    async with resolver("state", server_settings(mysql_database)) as client:
        transaction = await client.begin()
        with pytest.raises(CallError) as refused:
            await client.ensure_system_tables(["dbmesh_decisions"], transaction)
        await client.rollback(transaction)
    assert refused.value.message == (
        "database 'state' refused the request: mysql cannot create tables inside a transaction (DDL commits it)"
    )


async def test_a_read_only_database_refuses_system_tables(tmp_path: Path) -> None:
    SqliteBackend(tmp_path / "ro.db")._run("CREATE TABLE t (id INTEGER PRIMARY KEY)", [])
    async with resolver("ro", {"engine": "sqlite", "path": str(tmp_path / "ro.db"), "read_only": True}) as client:
        with pytest.raises(CallError) as refused:
            await client.ensure_system_tables(["dbmesh_transactions"])
    assert (refused.value.code, refused.value.message) == ("READ_ONLY_DATABASE", "database 'ro' is read-only")
