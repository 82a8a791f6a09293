"""The SQLite engine (aiosqlite): a small pool of connections to one database file.

Reads use a pool of `pool_size` connections, open transactions (Begin) one of `max_transactions`.
The file must exist (a resolver never creates an empty database by mistake); `read_only` opens
it with `mode=ro`, so the engine itself refuses writes too, except on the replication path: a pool
of its own (`max_transactions` connections, `mode=rw`) that only replication requests reach
(`Engine.replication`). Statements are interrupted past the
deadline by a progress handler, so a slow query gives DEADLINE_EXCEEDED and the connection stays
usable. SQLite cannot prepare transactions: its capabilities say so (docs/reference.md §8).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import aiosqlite

from dbmesh.services.catalog import Catalog, CollectionInfo, ColumnInfo, ForeignKeyInfo, Logical
from dbmesh.services.dialects.sqlite import SqliteDialect
from dbmesh.services.engines.base import DRIVER_FAILED, Connection, Engine
from dbmesh.services.errors import (
    AlreadyExists,
    ConstraintViolation,
    DatabaseError,
    DeadlineExceeded,
    ReadOnly,
    ResolverError,
    Unavailable,
)

__all__ = ["SqliteEngine", "sqlite_type"]

_MODIFIERS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


def sqlite_type(declared: str) -> tuple[Logical, int | None, int | None]:
    """(logical type, precision, scale) of a column from its declared type (SQLite's affinity
    rules, refined); precision and scale are a decimal's declared `(p, s)` (`(p)`: no scale)."""
    t = declared.upper()
    if "BOOL" in t:
        return Logical.BOOLEAN, None, None
    if "UUID" in t:
        return Logical.UUID, None, None
    if "INT" in t:
        return Logical.INT, None, None
    if "DEC" in t or "NUMERIC" in t or "MONEY" in t:
        modifiers = _MODIFIERS.search(t)
        if modifiers is None:
            return Logical.DECIMAL, None, None
        scale = modifiers.group(2)
        return Logical.DECIMAL, int(modifiers.group(1)), int(scale) if scale is not None else None
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return Logical.FLOAT, None, None
    if "TIMESTAMP" in t or "DATETIME" in t:
        return Logical.DATETIME, None, None
    if "DATE" in t:
        return Logical.DATE, None, None
    if "JSON" in t:
        return Logical.JSON, None, None
    return Logical.STRING, None, None


def _foreign_keys(catalog: Catalog, table: str, rows: list[Sequence[Any]]) -> tuple[ForeignKeyInfo, ...]:
    """The foreign keys of `table` from its `PRAGMA foreign_key_list` rows (id, seq, table, from,
    to, ...): a key without `to` columns references the primary key; one naming a table that does
    not exist (SQLite does not check) is left out. SQLite names no constraint: `name` is ""."""
    keys: dict[int, tuple[str, list[str], list[str | None]]] = {}
    for key_id, _seq, referenced, column, to, *_ in rows:
        entry = keys.setdefault(int(key_id), (str(referenced), [], []))
        entry[1].append(str(column))
        entry[2].append(None if to is None else str(to))
    found: list[ForeignKeyInfo] = []
    for _id, (referenced, columns, targets) in sorted(keys.items()):
        target = next((c for n, c in catalog.collections.items() if n.lower() == referenced.lower()), None)
        if target is None:
            continue
        resolved = list(target.primary_key) if all(t is None for t in targets) else targets
        if len(resolved) != len(columns) or any(t is None or t not in target.columns for t in resolved):
            continue
        found.append(ForeignKeyInfo("", tuple(columns), target.name, tuple(str(t) for t in resolved)))
    return tuple(found)


class _SqliteConnection:
    """A connection whose statements are interrupted once they run past `timeout` seconds, and
    the pool it belongs to."""

    def __init__(self, conn: aiosqlite.Connection, timeout: float, pool: _Pool) -> None:
        self.conn = conn
        self.timeout = timeout
        self.pool = pool
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


class _Pool:
    """At most `size` connections, opened on demand and reused last-in first-out. Once closed, a
    connection released into it is closed (a call cancelled by the server's stop releases its
    connection after the pool closed: kept, its aiosqlite thread would keep the process alive)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_use = 0
        self.idle: list[_SqliteConnection] = []
        self.slots = asyncio.Semaphore(size)
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        idle, self.idle = self.idle, []
        for c in idle:
            await c.conn.close()


class SqliteEngine(Engine):
    name = "sqlite"
    two_phase_commit = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.dialect = SqliteDialect()
        self.size = max(1, int(config.pool_size))
        self._reads = _Pool(self.size)
        self._transactions = _Pool(max(1, int(config.max_transactions)))
        self._replication = _Pool(max(1, int(config.max_transactions)))

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        await self._reads.close()
        await self._transactions.close()
        await self._replication.close()

    def _uri(self, pool: _Pool) -> str:
        mode = "ro" if self.config.read_only and pool is not self._replication else "rw"
        return f"file:{urllib.parse.quote(str(self.config.path))}?mode={mode}"

    async def _connect(self, pool: _Pool) -> _SqliteConnection:
        raw = await aiosqlite.connect(self._uri(pool), uri=True, isolation_level=None, check_same_thread=False)
        wrapped = _SqliteConnection(raw, self.timeout, pool)
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
        return await self._acquire_from(self._replication if self.writable_path() else self._reads)

    async def acquire_transaction(self) -> Connection:
        return await self._acquire_from(self._replication if self.writable_path() else self._transactions)

    async def _acquire_from(self, pool: _Pool) -> _SqliteConnection:
        await pool.slots.acquire()
        try:
            conn = pool.idle.pop() if pool.idle else await self._connect(pool)
        except BaseException:
            pool.slots.release()
            raise
        pool.in_use += 1
        return conn

    async def release(self, conn: Connection, *, discard: bool = False) -> None:
        assert isinstance(conn, _SqliteConnection)
        pool = conn.pool
        pool.in_use -= 1
        try:
            if discard or conn.conn.in_transaction or pool.closed:
                await conn.conn.close()
            else:
                pool.idle.append(conn)
        finally:
            pool.slots.release()

    def pool_usage(self) -> tuple[int, int]:
        return self._reads.in_use, self.size

    async def server_version(self, conn: Connection) -> str:
        return sqlite3.sqlite_version

    async def introspect(self) -> Catalog:
        catalog = Catalog()
        pending: dict[str, list[Sequence[Any]]] = {}  # table -> its PRAGMA foreign_key_list rows
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
                    logical, precision, scale = sqlite_type(str(declared or ""))
                    # Text compares and sorts as BINARY (code points) even when the column was
                    # declared NOCASE or RTRIM; a BINARY index still serves it.
                    exact = "BINARY" if logical in (Logical.STRING, Logical.UUID) else None
                    columns[col] = ColumnInfo(
                        col,
                        str(declared or ""),
                        logical,
                        not notnull and not pk_pos,
                        scale,
                        precision,
                        exact_collation=exact,
                    )
                    if pk_pos:
                        pk.append((int(pk_pos), str(col)))
                uniques = []
                for _seq, index, unique, *_ in await conn.fetch(f"PRAGMA index_list({quoted})", []):
                    if unique:
                        info = await conn.fetch(f"PRAGMA index_info({self.dialect.quote(str(index))})", [])
                        uniques.append(tuple(str(r[2]) for r in info))
                references = await conn.fetch(f"PRAGMA foreign_key_list({quoted})", [])
                catalog.collections[name] = CollectionInfo(
                    name, columns, tuple(c for _, c in sorted(pk)), tuple(uniques), is_view=kind == "view"
                )
                pending[name] = references
        for name, references in pending.items():
            catalog.collections[name] = replace(
                catalog.collections[name], foreign_keys=_foreign_keys(catalog, name, references)
            )
        return catalog

    def connection_is_broken(self, exc: BaseException) -> bool:
        return isinstance(exc, (asyncio.CancelledError, TimeoutError))

    def map_error(self, exc: BaseException) -> ResolverError:
        if isinstance(exc, ResolverError):
            return exc
        message = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):  # SQLite's texts name columns, never values
            if "UNIQUE" in message or "PRIMARY KEY" in message:
                return AlreadyExists(f"database {self.config.name!r}: {message}")
            return ConstraintViolation(f"database {self.config.name!r}: {message}")
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
        where = f"database {self.config.name!r}"
        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorname", "") or "SQLITE_ERROR"
            return DatabaseError(f"{where}: the statement failed ({code}: {message})")
        return DatabaseError(f"{where}: {DRIVER_FAILED}")
