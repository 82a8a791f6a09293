"""One database per engine, reached with its plain driver (asyncpg, aiomysql, sqlite3).

Tests load data and check what is really stored through a `Backend`, never through the resolver
under test; `Backend.config()` is the `[[databases]]` entry a resolver for that database needs.
"""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
from harness.config import database_toml, server_settings
from harness.servers import DatabaseInfo

from dbmesh.config import DatabaseConfig, parse_config

__all__ = ["Backend", "MysqlBackend", "PostgresBackend", "SqliteBackend", "backend_for"]


class Backend(abc.ABC):
    engine: str

    @abc.abstractmethod
    def placeholder(self, index: int) -> str:
        """The driver's placeholder for parameter `index` (1-based)."""

    @abc.abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    def _connection_keys(self) -> dict[str, Any]: ...

    async def close(self) -> None:
        return None

    def quote(self, identifier: str) -> str:
        return f'"{identifier}"'

    async def count(self, table: str) -> int:
        rows = await self.fetch(f"SELECT COUNT(*) FROM {self.quote(table)}")
        return int(rows[0][0])

    def config_toml(self, name: str = "conformance", **settings: Any) -> str:
        """A whole configuration file with this database as its only `[[databases]]` entry."""
        return database_toml(name, {"engine": self.engine, **self._connection_keys(), **settings})

    def config(self, name: str = "conformance", **settings: Any) -> DatabaseConfig:
        return parse_config(self.config_toml(name, **settings)).database(name)


class PostgresBackend(Backend):
    engine = "postgresql"

    def __init__(self, info: DatabaseInfo) -> None:
        self.info = info
        self._conn: asyncpg.Connection | None = None

    def placeholder(self, index: int) -> str:
        return f"${index}"

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            i = self.info
            self._conn = await asyncpg.connect(
                host=i.host, port=i.port, user=i.user, password=i.password or None, database=i.database
            )
        return self._conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = await self._connection()
        return [tuple(r) for r in await conn.fetch(sql, *params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        conn = await self._connection()
        await conn.execute(sql, *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn = await self._connection()
        await conn.executemany(sql, rows)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close(timeout=5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()

    def _connection_keys(self) -> dict[str, Any]:
        return server_settings(self.info)


class MysqlBackend(Backend):
    engine = "mysql"

    def __init__(self, info: DatabaseInfo) -> None:
        self.info = info
        self._conn: aiomysql.Connection | None = None

    def placeholder(self, index: int) -> str:
        return "%s"

    def quote(self, identifier: str) -> str:
        return f"`{identifier}`"

    async def _connection(self) -> aiomysql.Connection:
        if self._conn is None or self._conn.closed:
            i = self.info
            self._conn = await aiomysql.connect(
                host=i.host,
                port=i.port,
                user=i.user,
                password=i.password,
                db=i.database,
                autocommit=True,
                charset="utf8mb4",
            )
        return self._conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = await self._connection()
        async with conn.cursor() as cur:
            await cur.execute(sql, tuple(params) or None)
            return [tuple(r) for r in await cur.fetchall()]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.fetch(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn = await self._connection()
        async with conn.cursor() as cur:
            await cur.executemany(sql, [tuple(r) for r in rows])

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.ensure_closed()
            except Exception:
                conn.close()

    def _connection_keys(self) -> dict[str, Any]:
        return server_settings(self.info)


class SqliteBackend(Backend):
    """A database file; each call opens and closes its own connection, holding no lock between."""

    engine = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def placeholder(self, index: int) -> str:
        return "?"

    def _run(self, sql: str, params: Sequence[Any], many: bool = False) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if many:
                conn.execute("BEGIN")
                conn.executemany(sql, params)
                conn.execute("COMMIT")
                return []
            return [tuple(r) for r in conn.execute(sql, list(params)).fetchall()]
        finally:
            conn.close()

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._run(sql, rows, many=True)

    def _connection_keys(self) -> dict[str, Any]:
        return {"path": str(self.path)}


def backend_for(engine: str, where: DatabaseInfo | Path) -> Backend:
    if engine == "postgresql":
        assert isinstance(where, DatabaseInfo)
        return PostgresBackend(where)
    if engine == "mysql":
        assert isinstance(where, DatabaseInfo)
        return MysqlBackend(where)
    if engine == "sqlite":
        assert isinstance(where, Path)
        return SqliteBackend(where)
    raise ValueError(f"unknown engine {engine!r}")
