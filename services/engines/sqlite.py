"""The SQLite engine (aiosqlite): a small pool of connections to one database file.

The file must exist (a resolver never creates an empty database by mistake); `read_only` opens
it with `mode=ro`, so the engine itself refuses writes too. Statements are interrupted past the
deadline by a progress handler, so a slow query gives DEADLINE_EXCEEDED and the connection stays
usable. SQLite cannot prepare transactions: its capabilities say so (SPEC §8).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import aiosqlite

from dbmesh.services.catalog import Catalog, CollectionInfo, ColumnInfo, Logical
from dbmesh.services.dialects.sqlite import SqliteDialect
from dbmesh.services.engines.base import Connection, Engine
from dbmesh.services.errors import (
    AlreadyExists,
    ConstraintViolation,
    DatabaseError,
    DeadlineExceeded,
    ReadOnly,
    ResolverError,
    Unavailable,
)

__all__ = ["SqliteEngine", "sqlite_logical"]

_SCALE = re.compile(r"\(\s*\d+\s*,\s*(\d+)\s*\)")


def sqlite_logical(declared: str) -> tuple[Logical, int | None]:
    """The logical type of a column from its declared type (SQLite's affinity rules, refined)."""
    t = declared.upper()
    scale = _SCALE.search(t)
    if "BOOL" in t:
        return Logical.BOOLEAN, None
    if "UUID" in t:
        return Logical.UUID, None
    if "INT" in t:
        return Logical.INT, None
    if "DEC" in t or "NUMERIC" in t or "MONEY" in t:
        return Logical.DECIMAL, int(scale.group(1)) if scale else None
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return Logical.FLOAT, None
    if "TIMESTAMP" in t or "DATETIME" in t:
        return Logical.DATETIME, None
    if "DATE" in t:
        return Logical.DATE, None
    if "JSON" in t:
        return Logical.JSON, None
    return Logical.STRING, None


class _SqliteConnection:
    """A connection whose statements are interrupted once they run past `timeout` seconds."""

    def __init__(self, conn: aiosqlite.Connection, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.deadline = float("inf")

    def _progress(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        self.deadline = time.monotonic() + self.timeout
        try:
            async with self.conn.execute(sql, list(params)) as cursor:
                return list(await cursor.fetchall())
        finally:
            self.deadline = float("inf")

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        self.deadline = time.monotonic() + self.timeout
        try:
            async with self.conn.execute(sql, list(params)) as cursor:
                return int(cursor.rowcount)
        finally:
            self.deadline = float("inf")


class SqliteEngine(Engine):
    name = "sqlite"
    two_phase_commit = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.dialect = SqliteDialect()
        self.size = max(1, int(config.pool_size))
        self._idle: list[_SqliteConnection] = []
        self._in_use = 0
        self._slots = asyncio.Semaphore(self.size)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for c in idle:
            await c.conn.close()

    def _uri(self) -> str:
        mode = "ro" if self.config.read_only else "rw"
        return f"file:{urllib.parse.quote(str(self.config.path))}?mode={mode}"

    async def _connect(self) -> _SqliteConnection:
        raw = await aiosqlite.connect(self._uri(), uri=True, isolation_level=None, check_same_thread=False)
        wrapped = _SqliteConnection(raw, self.timeout)
        try:
            # Each cursor is closed before the next statement: `busy_timeout` returns a row, and
            # while its statement is still active SQLite silently refuses to re-register LIKE.
            for pragma in (
                f"PRAGMA busy_timeout = {int(self.timeout * 1000)}",
                "PRAGMA case_sensitive_like = ON",
                "PRAGMA foreign_keys = ON",
            ):
                async with raw.execute(pragma) as cursor:
                    await cursor.fetchall()
            await raw.create_function(
                "dbmesh_lower", 1, lambda v: v.lower() if isinstance(v, str) else v, deterministic=True
            )
            await raw.set_progress_handler(wrapped._progress, 1000)
        except BaseException:
            await raw.close()
            raise
        return wrapped

    async def acquire(self, replica: str = "") -> Connection:
        await self._slots.acquire()
        try:
            conn = self._idle.pop() if self._idle else await self._connect()
        except BaseException:
            self._slots.release()
            raise
        self._in_use += 1
        return conn

    async def release(self, conn: Connection, *, discard: bool = False) -> None:
        assert isinstance(conn, _SqliteConnection)
        self._in_use -= 1
        try:
            if discard or conn.conn.in_transaction:
                await conn.conn.close()
            else:
                self._idle.append(conn)
        finally:
            self._slots.release()

    def pool_usage(self) -> tuple[int, int]:
        return self._in_use, self.size

    async def server_version(self, conn: Connection) -> str:
        return sqlite3.sqlite_version

    async def introspect(self) -> Catalog:
        catalog = Catalog()
        async with self.connection() as conn:
            objects = await conn.fetch(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                [],
            )
            for name, kind in objects:
                quoted = self.dialect.quote(str(name))
                columns: dict[str, ColumnInfo] = {}
                pk: list[tuple[int, str]] = []
                for _cid, col, declared, notnull, _default, pk_pos in await conn.fetch(
                    f"PRAGMA table_info({quoted})", []
                ):
                    logical, scale = sqlite_logical(str(declared or ""))
                    # Text compares and sorts as BINARY (code points) even when the column was
                    # declared NOCASE or RTRIM; a BINARY index still serves it.
                    exact = "BINARY" if logical in (Logical.STRING, Logical.UUID) else None
                    columns[col] = ColumnInfo(
                        col, str(declared or ""), logical, not notnull and not pk_pos, scale, exact_collation=exact
                    )
                    if pk_pos:
                        pk.append((int(pk_pos), str(col)))
                uniques = []
                for _seq, index, unique, *_ in await conn.fetch(f"PRAGMA index_list({quoted})", []):
                    if unique:
                        info = await conn.fetch(f"PRAGMA index_info({self.dialect.quote(str(index))})", [])
                        uniques.append(tuple(str(r[2]) for r in info))
                catalog.collections[name] = CollectionInfo(
                    name, columns, tuple(c for _, c in sorted(pk)), tuple(uniques), is_view=kind == "view"
                )
        return catalog

    def connection_is_broken(self, exc: BaseException) -> bool:
        return isinstance(exc, (asyncio.CancelledError, TimeoutError))

    def map_error(self, exc: BaseException) -> ResolverError:
        if isinstance(exc, ResolverError):
            return exc
        message = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            if "UNIQUE" in message or "PRIMARY KEY" in message:
                return AlreadyExists(message)
            return ConstraintViolation(message)
        if isinstance(exc, sqlite3.OperationalError):
            if "interrupted" in message:
                return DeadlineExceeded(f"statement exceeded {self.timeout:g}s")
            if "readonly" in message:
                return ReadOnly(self.config.name)
            if "unable to open" in message or "locked" in message or "disk I/O" in message:
                return Unavailable(f"database {self.config.name!r}: {message}")
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return DeadlineExceeded(f"statement exceeded {self.timeout:g}s")
        if isinstance(exc, OSError):
            return Unavailable(f"database {self.config.name!r}: {exc.strerror or message}")
        return DatabaseError(f"{type(exc).__name__}: {message}")
