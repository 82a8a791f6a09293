"""A mutation that outlives its database's `timeout_secs` (docs/reference.md §10): the field is
DATABASE_TIMEOUT, the operation's other fields TRANSACTION_ABORTED, and nothing of the operation is
applied — also once the lock that held the write back is released. On PostgreSQL and MariaDB, with
a real row lock held by another connection, through the real HTTP router."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
from harness.mesh import InProcessMesh
from harness.servers import DatabaseInfo
from mutation_tables import Tables

SCHEMA = Path(__file__).with_name("mutation_schema.py")
ANN = "00000000-0000-4000-8000-000000000001"
BOB = "00000000-0000-4000-8000-000000000002"
TIMEOUT_SECS = 1

SEED = f"""mutation {{ insertCustomers(objects: [
  {{id: "{ANN}", email: "ann@example.com", balance: 10}},
  {{id: "{BOB}", email: "bob@example.com", balance: 5}}]) {{ affectedRows }} }}"""


@contextlib.asynccontextmanager
async def _bob_locked(info: DatabaseInfo) -> AsyncIterator[None]:
    """Another client holds Bob's row locked (an open transaction that updated it) until exit."""
    if info.engine == "postgresql":
        pg = await asyncpg.connect(host=info.host, port=info.port, user=info.user, database=info.database)
        try:
            await pg.execute("BEGIN")
            await pg.execute("UPDATE customers SET name = 'locked' WHERE email = 'bob@example.com'")
            yield
            await pg.execute("ROLLBACK")
        finally:
            await pg.close()
        return
    my = await aiomysql.connect(
        host=info.host, port=info.port, user=info.user, password=info.password, db=info.database
    )
    try:
        async with my.cursor() as cur:
            await cur.execute("BEGIN")
            await cur.execute("UPDATE customers SET name = 'locked' WHERE email = 'bob@example.com'")
            yield
            await cur.execute("ROLLBACK")
    finally:
        my.close()


@pytest.fixture(params=["postgresql", "mysql"])
async def timed(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[InProcessMesh, Tables]]:
    info = request.getfixturevalue("pg_database" if request.param == "postgresql" else "mysql_database")
    main = Tables.server(info)
    ledger = Tables.sqlite(tmp_path / "ledger.db")
    await main.create()
    await ledger.create()
    settings = {**main.settings, "timeout_secs": TIMEOUT_SECS}
    mesh = await InProcessMesh({"main": settings, "ledger": ledger.settings}, SCHEMA).start()
    try:
        assert await mesh.post(SEED) == {"data": {"insertCustomers": {"affectedRows": 2}}}
        yield mesh, main
    finally:
        await mesh.stop()


async def _balances(main: Tables) -> list[tuple[Any, ...]]:
    return [(r[0], int(r[1])) for r in await main.run("SELECT email, balance FROM customers ORDER BY email")]


async def test_a_write_held_past_the_timeout_is_database_timeout_and_applies_nothing(
    timed: tuple[InProcessMesh, Tables],
) -> None:
    mesh, main = timed
    assert main.info is not None
    async with _bob_locked(main.info):
        body = await mesh.post(
            'mutation { a: updateCustomers(where: {email: {_eq: "ann@example.com"}}, inc: {balance: 1})'
            " { affectedRows }"
            ' b: updateCustomers(where: {email: {_eq: "bob@example.com"}}, inc: {balance: 1}) { affectedRows } }'
        )
    assert body["data"] == {"a": None, "b": None}
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["a"], "TRANSACTION_ABORTED"),
        (["b"], "DATABASE_TIMEOUT"),
    ]
    assert body["errors"][1]["extensions"]["database"] == "main"
    assert body["errors"][1]["message"] == "database 'main' did not answer in time"
    # The lock is gone now: whatever the resolver still had in flight must not have committed.
    await asyncio.sleep(TIMEOUT_SECS)
    assert await _balances(main) == [("ann@example.com", 10), ("bob@example.com", 5)]
    after = await mesh.post(
        'mutation { updateCustomers(where: {email: {_eq: "bob@example.com"}}, inc: {balance: 1}) { affectedRows } }'
    )
    assert after == {"data": {"updateCustomers": {"affectedRows": 1}}}
    assert await _balances(main) == [("ann@example.com", 10), ("bob@example.com", 6)]
