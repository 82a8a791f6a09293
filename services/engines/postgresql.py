"""The PostgreSQL engine (asyncpg): lazy pools, catalog introspection, two-phase commit (docs/reference.md §8).

Pools are created on first use with `min_size=0`, so a resolver starts while PostgreSQL is down
and answers UNAVAILABLE (naming the database, never its DSN or password) until it is back; each
replica (`host:port`) gets its own pool with the same database, user and password, and open
transactions (Begin) get a pool of `max_transactions` connections of their own. Every session
runs with `statement_timeout = timeout_secs`, so the server cancels a slow statement
(DEADLINE_EXCEEDED) and the connection stays usable; `TimeZone = UTC`; `DateStyle = ISO` (the
timestamp text services/checksum_sql.py relies on, whatever the server's default); `application_name =
dbmesh-resolver`; a `read_only` database also gets `default_transaction_read_only`, so the server
itself refuses writes, except on the replication path: a pool of its own (`max_transactions`
connections, created on first use, without that setting) that only replication requests reach
(`Engine.replication`).

A connection goes back to the pool without asyncpg's `RESET ALL` round trip: the compiler never
changes session state, and an open transaction is rolled back (or the connection discarded)
before release. Two-phase commit is PostgreSQL's `PREPARE TRANSACTION` (the server needs
`max_prepared_transactions > 0`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import asyncpg
import asyncpg.exceptions as pg

from dbmesh.config import DatabaseConfig
from dbmesh.services.catalog import Catalog, CollectionInfo, ColumnInfo, ForeignKeyInfo, Logical
from dbmesh.services.constraints import postgres_constraint
from dbmesh.services.dialects.postgresql import ICU_ROOT, PostgresDialect
from dbmesh.services.engines.base import DRIVER_FAILED, Connection, Engine
from dbmesh.services.errors import (
    AlreadyExists,
    ConstraintViolation,
    DatabaseError,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ReadOnly,
    ResolverError,
    Unavailable,
    Unimplemented,
)
from dbmesh.services.transactions import is_dbmesh_global_id

__all__ = ["PostgresEngine", "pg_logical", "pg_precision"]

APPLICATION_NAME = "dbmesh-resolver"
# Prepared statements kept per connection: the compiler's texts are stable per request shape
# (key lists are one array parameter), so a router's working set of shapes stays prepared.
STATEMENT_CACHE_SIZE = 256

_LOGICAL = {
    "uuid": Logical.UUID,
    "bool": Logical.BOOLEAN,
    "int2": Logical.INT,
    "int4": Logical.INT,
    "int8": Logical.INT,
    "float4": Logical.FLOAT,
    "float8": Logical.FLOAT,
    "numeric": Logical.DECIMAL,
    "timestamp": Logical.DATETIME,
    "timestamptz": Logical.DATETIME,
    "date": Logical.DATE,
    "json": Logical.JSON,
    "jsonb": Logical.JSON,
}

# Columns of the tables and views in the first schema of the search path. Domains are seen
# through to their base type; `typmod` is the column's (or the domain's) type modifier.
_COLUMNS = """
SELECT c.relname, c.relkind IN ('v', 'm') AS is_view, a.attname,
       format_type(a.atttypid, a.atttypmod) AS db_type,
       format_type(bt.oid, -1) AS base_type,
       bt.typname,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS not_null,
       a.attcollation <> 0 AS collatable,
       COALESCE(coll.collisdeterministic, true) AS deterministic
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_collation coll ON coll.oid = a.attcollation
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
ORDER BY c.relname, a.attnum
"""

# Primary keys and unique keys (valid, not partial, no expressions; key columns in key order).
_KEYS = """
SELECT c.relname, i.indisprimary,
       ARRAY(SELECT a.attname
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.ord <= i.indnkeyatts
             ORDER BY k.ord) AS columns
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND i.indisunique AND i.indisvalid
  AND i.indpred IS NULL AND i.indexprs IS NULL
ORDER BY c.relname, i.indisprimary DESC, ic.relname
"""

# Foreign keys between tables of that schema (key columns pairwise, in key order).
_FOREIGN_KEYS = """
SELECT con.conname, c.relname,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
       rc.relname AS referenced,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f' AND n.nspname = current_schema() AND rn.nspname = current_schema()
ORDER BY c.relname, con.conname
"""


def pg_logical(type_name: str, typmod: int) -> tuple[Logical, int | None]:
    """The logical type (and decimal scale) of a column whose base type is `type_name`."""
    logical = _LOGICAL.get(type_name, Logical.STRING)
    if logical != Logical.DECIMAL or typmod < 4:
        return logical, None
    scale = (((typmod - 4) & 0x7FF) ^ 1024) - 1024  # PostgreSQL 15 allows a negative scale
    return logical, scale


def pg_precision(type_name: str, typmod: int) -> int | None:
    """The declared precision of a `numeric(p, s)` column (None: unconstrained, or not numeric)."""
    if type_name != "numeric" or typmod < 4:
        return None
    return ((typmod - 4) >> 16) & 0xFFFF


def _literal(text: str) -> str:
    """A string literal (global ids are already restricted to [A-Za-z0-9_.:-])."""
    return "'" + text.replace("'", "''") + "'"


def _affected(status: str) -> int:
    """Rows affected, from a command status such as "INSERT 0 3" or "UPDATE 2"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def _keep_session(conn: Any) -> None:
    """Pool reset hook: nothing to undo (see the module docstring), so no round trip."""


class _PgConnection:
    """One pooled asyncpg connection behind the engine's `Connection` protocol."""

    __slots__ = ("pool", "raw", "replica")

    def __init__(self, raw: Any, pool: Any, replica: str) -> None:
        self.raw = raw
        self.pool = pool
        self.replica = replica

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self.raw.fetch(sql, *params)
        return rows

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        return _affected(await self.raw.execute(sql, *params))


def _is_connection_error(exc: BaseException) -> bool:
    """Did `exc` come from a refused, lost or closed connection (rather than from a statement)?"""
    if isinstance(exc, pg.InterfaceError) and not isinstance(exc, pg._base.DataError):
        return "closed" in str(exc)
    return isinstance(
        exc,
        (
            OSError,
            TimeoutError,
            pg.PostgresConnectionError,
            pg.CannotConnectNowError,
            pg.AdminShutdownError,
            pg.CrashShutdownError,
            pg.TooManyConnectionsError,
            pg.InvalidCatalogNameError,
            pg.InvalidAuthorizationSpecificationError,
        ),
    )


class PostgresEngine(Engine):
    name = "postgresql"
    two_phase_commit = True
    dialect: PostgresDialect

    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        self.dialect = PostgresDialect()
        self.size = max(1, int(config.pool_size))
        self._pools: dict[str, Any] = {}
        self._transaction_pool: Any = None
        self._replication_pool: Any = None
        self._pool_lock = asyncio.Lock()
        self._in_use = 0

    # --- pool ---------------------------------------------------------------------------------

    async def open(self) -> None:
        return None  # pools are created on first use, so the database may be down now

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        if self._transaction_pool is not None:
            pools.append(self._transaction_pool)
            self._transaction_pool = None
        if self._replication_pool is not None:
            pools.append(self._replication_pool)
            self._replication_pool = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except Exception:  # connections still in use past the timeout: cut them
                pool.terminate()

    def _server_settings(self, writable: bool) -> dict[str, str]:
        settings = {
            "application_name": APPLICATION_NAME,
            "statement_timeout": str(max(1, round(self.timeout * 1000))),
            "TimeZone": "UTC",
            "DateStyle": "ISO, MDY",
        }
        if self.config.read_only and not writable:
            settings["default_transaction_read_only"] = "on"
        return settings

    async def _create_pool(self, host: str | None, port: int | None, size: int, *, writable: bool = False) -> Any:
        return await asyncpg.create_pool(
            host=host,
            port=port,
            database=self.config.database,
            user=self.config.username,
            password=self.config.password,
            min_size=0,
            max_size=size,
            timeout=self.timeout,  # connect timeout: an unreachable host answers in time
            statement_cache_size=STATEMENT_CACHE_SIZE,
            server_settings=self._server_settings(writable),
            reset=_keep_session,
        )

    async def _pool(self, replica: str) -> Any:
        pool = self._pools.get(replica)
        if pool is not None:
            return pool
        async with self._pool_lock:
            pool = self._pools.get(replica)
            if pool is None:
                host, port = _split_address(replica) if replica else (self.config.host, self.config.port)
                pool = self._pools[replica] = await self._create_pool(host, port, self.size)
        return pool

    async def _transactions_pool(self) -> Any:
        if self._transaction_pool is None:
            async with self._pool_lock:
                if self._transaction_pool is None:
                    size = max(1, int(self.config.max_transactions))
                    self._transaction_pool = await self._create_pool(self.config.host, self.config.port, size)
        return self._transaction_pool

    async def _writable_pool(self) -> Any:
        if self._replication_pool is None:
            async with self._pool_lock:
                if self._replication_pool is None:
                    size = max(1, int(self.config.max_transactions))
                    host, port = self.config.host, self.config.port
                    self._replication_pool = await self._create_pool(host, port, size, writable=True)
        return self._replication_pool

    def _where(self, replica: str) -> str:
        name = f"database {self.config.name!r}"
        return f"{name} (replica {replica})" if replica else name

    async def acquire(self, replica: str = "") -> Connection:
        if self.writable_path():
            return await self._acquire_from(await self._writable_pool(), "")
        conn = await self._acquire_from(await self._pool(replica), replica)
        if not replica:
            self._in_use += 1
        return conn

    async def acquire_transaction(self) -> Connection:
        pool = await self._writable_pool() if self.writable_path() else await self._transactions_pool()
        return await self._acquire_from(pool, "")

    async def _acquire_from(self, pool: Any, replica: str) -> _PgConnection:
        # With an idle connection the acquire cannot wait (asyncpg hands out a live one first and
        # does not suspend before taking it), so it goes without a timeout: asyncpg wraps a timed
        # acquire in a task of its own (2 % of the resolver's CPU on a Point request). Without
        # one, the wait for a connection (or for a new one to open) is bounded as before.
        timeout = None if pool.get_idle_size() else self.timeout
        try:
            raw = await pool.acquire(timeout=timeout)
        except TimeoutError:
            raise Unavailable(f"{self._where(replica)}: no connection within {self.timeout:g}s") from None
        except Exception as exc:
            problem = _connection_problem(exc, self.timeout) if _is_connection_error(exc) else _server_message(exc)
            raise Unavailable(f"{self._where(replica)} is unavailable: {problem}") from None
        return _PgConnection(raw, pool, replica)

    async def release(self, conn: Connection, *, discard: bool = False) -> None:
        assert isinstance(conn, _PgConnection)
        raw = conn.raw
        if conn.pool is self._pools.get(""):
            self._in_use -= 1
        try:
            if not discard and not raw.is_closed() and raw.is_in_transaction():
                try:
                    await raw.execute("ROLLBACK")
                except Exception:
                    discard = True
            if discard:
                raw.terminate()
        finally:
            with contextlib.suppress(Exception):
                await conn.pool.release(raw, timeout=self.timeout)

    def pool_usage(self) -> tuple[int, int]:
        return self._in_use, self.size

    def connection_is_broken(self, exc: BaseException) -> bool:
        """Discard after a cancellation, a client-side timeout or a connection error (the session
        state is unknown); keep it after a server-side statement timeout or a failed statement."""
        if isinstance(exc, (pg.InterfaceError, pg.InternalClientError)):
            return not isinstance(exc, pg._base.DataError)
        return isinstance(exc, (asyncio.CancelledError, Unavailable)) or _is_connection_error(exc)

    # --- catalog and status -------------------------------------------------------------------

    async def server_version(self, conn: Connection) -> str:
        rows = await conn.fetch("SHOW server_version", [])
        return str(rows[0][0])

    async def introspect(self) -> Catalog:
        async with self.connection() as conn:
            columns: list[Any] = await conn.fetch(_COLUMNS, [])  # asyncpg Records, read by name
            keys = await conn.fetch(_KEYS, [])
            references = await conn.fetch(_FOREIGN_KEYS, [])
            icu = await conn.fetch("SELECT 1 FROM pg_collation WHERE collname = $1", [ICU_ROOT])
        fold_collation = ICU_ROOT if icu else None
        collections: dict[str, dict[str, ColumnInfo]] = {}
        views: set[str] = set()
        for row in columns:
            relname, db_type, typname = row["relname"], row["db_type"], row["typname"]
            logical, scale = pg_logical(typname, row["typmod"])
            collections.setdefault(relname, {})[row["attname"]] = ColumnInfo(
                row["attname"],
                db_type,
                logical,
                nullable=not row["not_null"],
                scale=scale,
                precision=pg_precision(typname, row["typmod"]),
                exact_collation="C" if row["collatable"] else None,
                case_insensitive=not row["deterministic"],
                base_type=row["base_type"],
                zoned=typname == "timestamptz",
                fold_collation=fold_collation,
            )
            if row["is_view"]:
                views.add(relname)
        primary: dict[str, tuple[str, ...]] = {}
        uniques: dict[str, list[tuple[str, ...]]] = {}
        for relname, is_primary, key in keys:
            if is_primary:
                primary[relname] = tuple(key)
            else:
                uniques.setdefault(relname, []).append(tuple(key))
        foreign: dict[str, list[ForeignKeyInfo]] = {}
        for name, relname, key, referenced, referenced_key in references:
            foreign.setdefault(relname, []).append(ForeignKeyInfo(name, tuple(key), referenced, tuple(referenced_key)))
        catalog = Catalog()
        for relname, cols in collections.items():
            catalog.collections[relname] = CollectionInfo(
                relname,
                cols,
                primary.get(relname, ()),
                tuple(uniques.get(relname, ())),
                is_view=relname in views,
                foreign_keys=tuple(foreign.get(relname, ())),
            )
        return catalog

    # --- errors -------------------------------------------------------------------------------

    def map_error(self, exc: BaseException) -> ResolverError:
        if isinstance(exc, ResolverError):
            return exc
        where = self._where("")
        if isinstance(exc, pg.QueryCanceledError):
            return DeadlineExceeded(f"{where}: statement exceeded {self.timeout:g}s")
        if isinstance(exc, pg.UniqueViolationError):
            return AlreadyExists(postgres_constraint(self.config.name, exc))
        if isinstance(exc, pg.IntegrityConstraintViolationError):
            return ConstraintViolation(postgres_constraint(self.config.name, exc))
        if isinstance(exc, pg.ReadOnlySQLTransactionError):
            return ReadOnly(self.config.name, _server_message(exc))
        if isinstance(exc, pg.InsufficientPrivilegeError):
            return PermissionDenied(f"{where}: {_server_message(exc)}")
        if isinstance(exc, (pg.DataError, pg._base.DataError)):
            return InvalidArgument(_server_message(exc))
        if _is_connection_error(exc):
            return Unavailable(f"{where} is unavailable: {_connection_problem(exc, self.timeout)}")
        if isinstance(exc, pg.PostgresError):
            return DatabaseError(f"{where}: the statement failed (SQLSTATE {exc.sqlstate}: {_server_message(exc)})")
        return DatabaseError(f"{where}: {DRIVER_FAILED}")

    # --- two-phase commit ---------------------------------------------------------------------

    async def prepare(self, conn: Connection, global_id: str) -> None:
        try:
            await conn.execute(f"PREPARE TRANSACTION {_literal(global_id)}", [])
        except pg.ObjectNotInPrerequisiteStateError as exc:
            if "disabled" in str(exc):
                raise Unimplemented(
                    f"{self._where('')} cannot prepare transactions (max_prepared_transactions is 0)"
                ) from None
            raise
        except pg.DuplicateObjectError:
            raise AlreadyExists(f"global id {global_id!r} is already in use in {self._where('')}") from None

    async def commit_prepared(self, global_id: str) -> None:
        await self._finish_prepared("COMMIT", global_id)

    async def rollback_prepared(self, global_id: str) -> None:
        await self._finish_prepared("ROLLBACK", global_id)

    async def _finish_prepared(self, verb: str, global_id: str) -> None:
        async with self.connection() as conn:
            try:
                await conn.execute(f"{verb} PREPARED {_literal(global_id)}", [])
            except (pg.UndefinedObjectError, pg.FeatureNotSupportedError) as exc:
                # FeatureNotSupported: the prepared transaction belongs to another database.
                if isinstance(exc, pg.FeatureNotSupportedError) and "another database" not in str(exc):
                    raise
                raise NotFound(f"no prepared transaction {global_id!r} in {self._where('')}") from None

    async def recover(self) -> list[tuple[str, str]]:
        async with self.connection() as conn:
            rows = await conn.fetch(
                "SELECT gid, prepared FROM pg_prepared_xacts WHERE database = current_database() "
                "ORDER BY prepared, gid",
                [],
            )
        return [
            (str(gid), at.astimezone(UTC).isoformat().replace("+00:00", "Z"))
            for gid, at in rows
            if is_dbmesh_global_id(str(gid))
        ]


def _server_message(exc: BaseException) -> str:
    """The server's message and detail (they name constraints and key values, never credentials)."""
    message = str(getattr(exc, "message", None) or exc)
    detail = getattr(exc, "detail", None)
    return f"{message} ({detail})" if detail else message


def _connection_problem(exc: BaseException, timeout: float) -> str:
    """Why a connection failed, without hosts, ports, DSNs or passwords."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        text = str(exc)
        if "Connect call failed" in text or "Multiple exceptions" in text:
            return "connection refused"
        return exc.strerror or "connection failed"
    if isinstance(exc, pg.PostgresError):
        return str(exc.message)
    return str(exc) or "connection failed"
