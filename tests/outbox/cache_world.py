"""The world of the write-through tests (its fixture `cache` is registered by conftest.py):
`customers` on a fresh PostgreSQL database of the
session's throwaway server (`postgres_primary`) and in a SQLite file (`sqlite_cache`), each behind
a real resolver in this process; routers are real (`dbmesh.router.Router`, in this process or as a
`dbmesh router` child process). The cache records every write it receives in `audit` (a trigger),
so tests can count how many times, and in which order, each change was applied. `read_only_cache`
is the same world with the cache configured `read_only`."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from harness.config import server_settings
from harness.mesh import InProcessMesh
from harness.servers import DatabaseInfo

from dbmesh.config import parse_config
from dbmesh.router import Router
from dbmesh.router.service import GraphQLRequest
from dbmesh.schema import load_schema

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCHEMA = HERE / "cache_schema.py"
TRANSACTIONS = "\n[transactions]\nlease_secs = 1.5\nrecovery_interval_secs = 0.3\n"

PG_DDL = (
    "CREATE TABLE customers (id uuid PRIMARY KEY, email text NOT NULL, name text, visits integer NOT NULL,"
    " last_sync timestamptz)"
)
SQLITE_DDL = [
    "CREATE TABLE customers (id text PRIMARY KEY, email text NOT NULL, name text, visits integer NOT NULL,"
    " last_sync text)",
    "CREATE TABLE audit (n integer PRIMARY KEY AUTOINCREMENT, what text NOT NULL, id text, email text)",
    "CREATE TRIGGER audit_insert AFTER INSERT ON customers BEGIN"
    " INSERT INTO audit (what, id, email) VALUES ('insert', NEW.id, NEW.email); END",
    "CREATE TRIGGER audit_update AFTER UPDATE ON customers BEGIN"
    " INSERT INTO audit (what, id, email) VALUES ('update', NEW.id, NEW.email); END",
    "CREATE TRIGGER audit_delete AFTER DELETE ON customers BEGIN"
    " INSERT INTO audit (what, id, email) VALUES ('delete', OLD.id, OLD.email); END",
]


@dataclass
class Cache:
    """The world: both databases, their resolvers, and the routers a test starts."""

    pg: DatabaseInfo
    sqlite_path: Path
    tmp: Path
    mesh: InProcessMesh
    routers: list[Router] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    # --- reading the databases themselves -------------------------------------------------------

    async def pg_rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(host=self.pg.host, port=self.pg.port, user=self.pg.user, database=self.pg.database)
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    def sqlite_rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.sqlite_path)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    async def nothing_pending(self) -> bool:
        """Is every change in the outbox marked applied?"""
        return await self.pg_rows("SELECT count(*) FROM dbmesh_outbox WHERE applied_at IS NULL") == [(0,)]

    def audit(self, row_id: str | None = None) -> list[tuple[str, str]]:
        """The writes the cache received, in order (with `row_id`: those of that row only; SPEC §11
        orders the changes of one row, not those of different rows)."""
        found = self.sqlite_rows("SELECT what, email, id FROM audit ORDER BY n")
        return [(str(r[0]), str(r[1])) for r in found if row_id is None or r[2] == row_id]

    # --- routers ----------------------------------------------------------------------------------

    def config_path(self) -> Path:
        path = self.tmp / "dbmesh.toml"
        path.write_text(self.mesh.toml() + TRANSACTIONS)
        return path

    async def router(self, inline_secs: float | None = None) -> Router:
        """A router in this process over the world's resolvers (stopped after the test); with
        `inline_secs`, waiting that long at most to apply its own writes to the cache before
        answering them (instead of dbmesh's INLINE_SECS)."""
        config = parse_config(self.mesh.toml() + TRANSACTIONS)
        router = Router(config, load_schema(SCHEMA, [d.name for d in config.databases]))
        if inline_secs is not None:
            router.outbox.inline_secs = inline_secs
        await router.start(check_schema=False)
        self.routers.append(router)
        return router

    def router_process(self, crash_at: str = "") -> subprocess.Popen[str]:
        """`dbmesh router` as a child process (DBMESH_TEST_CRASH_AT=crash_at when given)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("DBMESH_TEST_CRASH_AT", None)
        if crash_at:
            env["DBMESH_TEST_CRASH_AT"] = crash_at
        command = [sys.executable, "-m", "dbmesh", "router", "-c", str(self.config_path()), "-s", str(SCHEMA)]
        process = subprocess.Popen(
            [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env
        )
        self.processes.append(process)
        return process

    async def outbox_command(self) -> tuple[int, str, str]:
        """`dbmesh outbox -c CONFIG` as a user runs it (asynchronously: the resolvers answer from
        this event loop); exit status, stdout, stderr."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dbmesh",
            "outbox",
            "-c",
            str(self.config_path()),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return int(process.returncode or 0), out.decode(), err.decode()


async def post(router: Router, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await router.execute(GraphQLRequest(query, variables))
    return response.body


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> float:
    """Wait until `check()` is true; the seconds it took (fails after `timeout`)."""
    start = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.01)


async def _world(pg_database: DatabaseInfo, tmp_path: Path, *, read_only: bool) -> AsyncIterator[Cache]:
    conn = await asyncpg.connect(
        host=pg_database.host, port=pg_database.port, user=pg_database.user, database=pg_database.database
    )
    try:
        await conn.execute(PG_DDL)
    finally:
        await conn.close()
    sqlite_path = tmp_path / "cache.db"
    with sqlite3.connect(sqlite_path) as conn:
        for statement in SQLITE_DDL:
            conn.execute(statement)
    mesh = InProcessMesh(
        {
            "postgres_primary": server_settings(pg_database),
            "sqlite_cache": {"engine": "sqlite", "path": str(sqlite_path), "read_only": read_only},
        },
        SCHEMA,
    )
    for name in mesh.databases:
        await mesh.start_resolver(name)
    world = Cache(pg_database, sqlite_path, tmp_path, mesh)
    try:
        yield world
    finally:
        for router in world.routers:
            await router.stop()
        for process in world.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout:
                process.stdout.close()
        for name in list(mesh.resolvers):
            await mesh.stop_resolver(name)


@pytest.fixture
async def cache(pg_database: DatabaseInfo, tmp_path: Path) -> AsyncIterator[Cache]:
    async for world in _world(pg_database, tmp_path, read_only=False):
        yield world


@pytest.fixture
async def read_only_cache(pg_database: DatabaseInfo, tmp_path: Path) -> AsyncIterator[Cache]:
    """The same world with `sqlite_cache` configured `read_only = true` (SPEC's own example)."""
    async for world in _world(pg_database, tmp_path, read_only=True):
        yield world
