"""Two-phase commit across a resolver crash (docs/reference.md §8): a transaction begun with a global id and
prepared (PostgreSQL PREPARE TRANSACTION, MySQL XA) outlives the resolver process that prepared it;
a new process lists it with Recover and commits or rolls it back by global id. SQLite cannot
prepare and says so. The resolvers are real `dbmesh resolver` processes, killed with SIGKILL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from _resolver_process import ResolverProcesses
from conformance.backends import Backend, MysqlBackend, PostgresBackend, backend_for
from conformance.client import asc, expect_error, row

DATABASE = "ledger_db"


@dataclass
class Ledger:
    engine: str
    backend: Backend
    config_path: Path


@pytest.fixture
def resolver_processes(tmp_path: Path) -> Iterator[ResolverProcesses]:
    processes = ResolverProcesses(tmp_path)
    yield processes
    processes.close()


async def _in_doubt(backend: Backend) -> list[str]:
    """Prepared transactions of this database, as the engine itself lists them."""
    if isinstance(backend, PostgresBackend):
        rows = await backend.fetch("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
        return [r[0] for r in rows]
    if isinstance(backend, MysqlBackend):
        return [_xid(r)[0] for r in await backend.fetch("XA RECOVER")]
    return []


def _xid(row: Any) -> tuple[str, str, int]:
    """(gtrid, bqual, formatID) of an `XA RECOVER` row (formatID, gtrid_length, bqual_length, data)."""
    data = row[3].decode() if isinstance(row[3], bytes) else row[3]
    return data[: row[1]], data[row[1] : row[1] + row[2]], int(row[0])


async def _forget(backend: Backend, gids: list[str]) -> None:
    """Roll back what a failed test left prepared: it would hold locks and block DROP DATABASE."""
    if isinstance(backend, PostgresBackend):
        for gid in gids:
            await backend.execute(f"ROLLBACK PREPARED '{gid}'")
        return
    for recovered in await backend.fetch("XA RECOVER"):
        gtrid, bqual, format_id = _xid(recovered)
        if gtrid in gids:  # the branch as the resolver marked it (qualifier and format id)
            await backend.execute(f"XA ROLLBACK '{gtrid}', '{bqual}', {format_id}")


@pytest_asyncio.fixture(params=["postgresql", "mysql"], loop_scope="session")
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    engine = request.param
    info = request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database")
    backend = backend_for(engine, info)
    await backend.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, note VARCHAR(100) NOT NULL)")
    config_path = tmp_path / "dbmesh.toml"
    config_path.write_text(backend.config_toml(DATABASE, timeout_secs=10))
    try:
        yield Ledger(engine, backend, config_path)
    finally:
        await _forget(backend, [g for g in await _in_doubt(backend) if g.startswith("dbmesh-test-")])
        await backend.close()


async def _prepare_two_rows(ledger: Ledger, processes: ResolverProcesses, gid: str) -> None:
    """Begin(gid), insert two rows, Prepare, then SIGKILL the resolver that did it."""
    first = await processes.start(ledger.config_path, DATABASE)
    async with first.client() as client:
        assert (await client.capabilities()).two_phase_commit
        tx = await client.begin(gid)
        affected, _ = await client.mutate(
            "ledger", insert=[row(id=1, note="one"), row(id=2, note="two")], transaction_id=tx
        )
        assert affected == 2
        assert await client.prepare(tx) == gid
        await expect_error(grpc.StatusCode.NOT_FOUND, client.commit(transaction_id=tx))  # no longer open
    first.kill()
    assert await ledger.backend.count("ledger") == 0  # prepared is not committed
    assert gid in await _in_doubt(ledger.backend)


async def test_prepared_transaction_committed_after_a_crash(
    ledger: Ledger, resolver_processes: ResolverProcesses
) -> None:
    gid = f"dbmesh-test-{uuid.uuid4().hex[:16]}"
    await _prepare_two_rows(ledger, resolver_processes, gid)
    second = await resolver_processes.start(ledger.config_path, DATABASE)
    async with second.client() as client:
        assert gid in await client.recover()
        await client.commit(global_id=gid)
        assert await client.rows("ledger", ["id", "note"], order_by=[asc("id")]) == [[1, "one"], [2, "two"]]
        assert gid not in await client.recover()
        await expect_error(grpc.StatusCode.NOT_FOUND, client.commit(global_id=gid))
    assert sorted(await ledger.backend.fetch("SELECT id, note FROM ledger")) == [(1, "one"), (2, "two")]


async def test_prepared_transaction_rolled_back_after_a_crash(
    ledger: Ledger, resolver_processes: ResolverProcesses
) -> None:
    gid = f"dbmesh-test-{uuid.uuid4().hex[:16]}"
    await _prepare_two_rows(ledger, resolver_processes, gid)
    second = await resolver_processes.start(ledger.config_path, DATABASE)
    async with second.client() as client:
        assert gid in await client.recover()
        await client.rollback(global_id=gid)
        assert gid not in await client.recover()
        assert await client.rows("ledger", ["id"]) == []
        # The rows' locks went with the prepared transaction: the same keys can be written.
        affected, _ = await client.mutate("ledger", insert=[row(id=1, note="again")])
        assert affected == 1
    assert await _in_doubt(ledger.backend) == []
    assert await ledger.backend.fetch("SELECT id, note FROM ledger") == [(1, "again")]


async def test_unknown_global_id_is_not_found(ledger: Ledger, resolver_processes: ResolverProcesses) -> None:
    process = await resolver_processes.start(ledger.config_path, DATABASE)
    async with process.client() as client:
        await expect_error(grpc.StatusCode.NOT_FOUND, client.commit(global_id="dbmesh-test-never-prepared"))
        await expect_error(grpc.StatusCode.NOT_FOUND, client.rollback(global_id="dbmesh-test-never-prepared"))


async def test_sqlite_cannot_prepare(tmp_path: Path, resolver_processes: ResolverProcesses) -> None:
    backend = backend_for("sqlite", tmp_path / "ledger.db")
    await backend.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    config_path = tmp_path / "dbmesh.toml"
    config_path.write_text(backend.config_toml(DATABASE))
    process = await resolver_processes.start(config_path, DATABASE)
    async with process.client() as client:
        assert not (await client.capabilities()).two_phase_commit
        await expect_error(grpc.StatusCode.UNIMPLEMENTED, client.begin("dbmesh-test-sqlite"))
        await expect_error(grpc.StatusCode.UNIMPLEMENTED, client.commit(global_id="dbmesh-test-sqlite"))
        assert await client.recover() == []
        tx = await client.begin()  # a plain transaction still works
        await client.mutate("ledger", insert=[row(id=1, note="one")], transaction_id=tx)
        await client.commit(transaction_id=tx)
    assert await backend.fetch("SELECT id, note FROM ledger") == [(1, "one")]
