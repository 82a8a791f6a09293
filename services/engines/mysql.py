"""The MySQL engine (asyncmy), written and tested against MariaDB 10.11 (docs/reference.md §8).

Connections. One small pool per server address (the database, and each replica on first use), and
one of `max_transactions` connections for open transactions (Begin), all opened on demand, so a
resolver starts while its server is down and answers UNAVAILABLE until it is back. The driver is
asyncmy: it parses rows in Cython (aiomysql's pure-Python parsing cost 3 to 10 times the CPU per
statement, bench/results/mysql-driver.md); its pool is not used, a driver's pool is where
callers stall once connections start failing (aiomysql's held its lock while connecting). Each connection
is utf8mb4, autocommit, CLIENT_FOUND_ROWS (an UPDATE counts the rows it matched, as on PostgreSQL),
one statement per query (the driver turns multi-statements on; they are turned off), and a session
that pins what the dialect relies on: time zone UTC, a known strict `sql_mode`,
`max_statement_time` = the database's timeout (the server stops a slow statement with error 1969
and the connection stays usable) and, for `read_only`, read-only transactions, except on the
replication path: a pool of its own (`max_transactions` connections, without `tx_read_only`) that
only replication requests reach (`Engine.replication`).

Two-phase commit is MySQL's XA. A connection remembers the XA transaction it is in; after XA
PREPARE it is closed, which detaches the prepared transaction from the session (MariaDB 10.5+
keeps it, and it survives a server restart) so that any resolver process can commit or roll it
back by global id. MariaDB detaches it a moment after the disconnect and rolls back a prepared
branch that changed nothing (XA COMMIT then reports XA_RBROLLBACK: there was nothing to commit).
XA ids are server-wide, so every branch this engine starts is marked as its database's: the XA id
is (global id, branch qualifier = the database's name, format id `XA_FORMAT`), and Recover lists
only dbmesh's global ids with that mark, never other databases' or other programs' transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asyncmy import errors as driver_errors
from asyncmy.connection import Connection as DriverConnection
from asyncmy.constants import CLIENT
from asyncmy.cursors import Cursor as DriverCursor

from dbmesh.services.catalog import Catalog, CollectionInfo, ColumnInfo, ForeignKeyInfo, Logical
from dbmesh.services.constraints import mysql_constraint
from dbmesh.services.dialects.mysql import MysqlDialect, exact_collation, json_checked_column, mysql_logical
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
)
from dbmesh.services.transactions import is_dbmesh_global_id

__all__ = ["MysqlEngine"]

# The session's `group_concat_max_len`, for a reconcile segment's text (services/checksum_sql.py
# `segment_sql`); the server's `max_allowed_packet` (16 MiB by default) bounds it too. A segment
# longer than either is read row by row instead, never checksummed from a cut text.
GROUP_CONCAT_MAX_LEN = 1 << 30
_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_IN_DATE,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION"
# How long Commit/Rollback by global id waits for a just-closed session to let go of the
# prepared transaction (MariaDB detaches it within milliseconds of the disconnect).
_DETACH_WAIT_SECS = 2.0

_XAER_NOTA = 1397
XA_FORMAT = 0x64626D  # "dbm": the format id of dbmesh's XA branches (MySQL's default is 1)
_XA_ROLLED_BACK = frozenset({1402, 1613, 1614})  # XA_RBROLLBACK, XA_RBTIMEOUT, XA_RBDEADLOCK
# Server errors by contract error; client errors (2000-2999: cannot connect, gone away, lost) are
# UNAVAILABLE too.
_ERRORS: dict[int, type[ResolverError]] = {
    **dict.fromkeys((1040, 1044, 1045, 1049, 1053, 1152, 1927, 4031), Unavailable),
    **dict.fromkeys((1969, 3024, 1205), DeadlineExceeded),  # max_statement_time, lock wait
    **dict.fromkeys((1022, 1062, 1169, 1586, 1440), AlreadyExists),
    **dict.fromkeys((1048, 1216, 1217, 1263, 1364, 1451, 1452, 3819, 4025), ConstraintViolation),
    **dict.fromkeys((1142, 1143), PermissionDenied),  # privileges; read-only modes are _READ_ONLY
    **dict.fromkeys((1264, 1265, 1267, 1270, 1271, 1292, 1366, 1406, 3140), InvalidArgument),
    **dict.fromkeys((1054, 1146), InvalidArgument),  # the schema changed since introspection
    _XAER_NOTA: NotFound,
}


_READ_ONLY = frozenset((1290, 1792, 1836))  # --read-only, a read-only transaction, read-only mode
_XID = f"%(p1)s, %(p2)s, {XA_FORMAT}"  # an XA id: global id, branch qualifier, format id


def _code(exc: BaseException) -> int:
    """The MySQL error number of a driver exception (0 when it has none)."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def _os_reason(exc: OSError) -> str:
    """Why a socket failed, without the address asyncio puts in its messages."""
    return os.strerror(exc.errno) if exc.errno else "connection failed"


_NAMES: list[str] = []  # "p1", "p2", ...: made once, a batch's insert binds thousands


def _args(params: Sequence[Any]) -> dict[str, Any]:
    """Parameters keyed as the dialect's placeholders name them (`%(p1)s`, ...)."""
    if len(params) > len(_NAMES):
        _NAMES.extend(f"p{i}" for i in range(len(_NAMES) + 1, len(params) + 1))
    return dict(zip(_NAMES, params, strict=False))


class _QuietCursor(DriverCursor):
    """A cursor that does not fetch SHOW WARNINGS after each statement: that costs a round trip
    and the driver would log each warning. Strict sql_mode makes bad data an error."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


class _MysqlConnection:
    """One pooled driver connection, and the XA transaction it is in (if any)."""

    def __init__(self, raw: Any, pool: _Pool) -> None:
        self.raw = raw
        self.pool = pool
        self.xa_id = ""
        self.xa_prepared = False

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return list(await (await self._run(sql, params)).fetchall())

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        return int((await self._run(sql, params)).rowcount)

    async def _run(self, sql: str, params: Sequence[Any]) -> Any:
        """Run `sql` with its parameters escaped into it by the driver. Always formatting (even
        with no parameters) keeps `%%` meaning `%` in every statement."""
        cursor = self.raw.cursor()
        await cursor.execute(sql, _args(params))
        return cursor


def _alive(raw: Any) -> bool:
    """Whether an idle connection can be reused: not closed, and the server has not hung up on it
    (a restarted server closes every session; the protocol then holds the EOF)."""
    return bool(raw.connected and not raw._stream_broken)


class _Pool:
    """At most `size` connections to one server address, opened on demand and reused last-in
    first-out. Creating a pool does no I/O, so it needs no lock."""

    def __init__(self, size: int, connect: Callable[[], Awaitable[Any]]) -> None:
        self.size = size
        self.in_use = 0
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Any] = []

    async def acquire(self) -> Any:
        await self._slots.acquire()
        try:
            raw = None
            while self._idle and raw is None:
                candidate = self._idle.pop()
                if _alive(candidate):
                    raw = candidate
                else:
                    candidate.close()
            if raw is None:
                raw = await self._connect()
        except BaseException:
            self._slots.release()
            raise
        self.in_use += 1
        return raw

    def release(self, raw: Any, *, keep: bool) -> None:
        self.in_use -= 1
        if keep and _alive(raw):
            self._idle.append(raw)
        else:
            raw.close()
        self._slots.release()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for raw in idle:
            try:
                async with asyncio.timeout(1.0):
                    await raw.ensure_closed()
            except Exception:
                raw.close()


class MysqlEngine(Engine):
    name = "mysql"
    two_phase_commit = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.dialect = MysqlDialect()
        self.size = max(1, int(config.pool_size))
        self._pools: dict[str, _Pool] = {}
        transactions = max(1, int(config.max_transactions))
        self._transaction_pool = _Pool(transactions, lambda: self._connect(*self._address("")))
        self._replication_pool = _Pool(transactions, lambda: self._connect(*self._address(""), writable=True))
        session = [
            "time_zone = '+00:00'",
            f"sql_mode = '{_SQL_MODE}'",
            f"max_statement_time = {self.timeout:.3f}",
            f"innodb_lock_wait_timeout = {max(1, int(self.timeout + 0.999))}",
            f"group_concat_max_len = {GROUP_CONCAT_MAX_LEN}",
        ]
        self._writable_session_sql = "SET " + ", ".join(session)
        if config.read_only:
            session.append("tx_read_only = 1")
        self._session_sql = "SET " + ", ".join(session)

    # --- pool -------------------------------------------------------------------------------

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        pools, self._pools = [*self._pools.values(), self._transaction_pool, self._replication_pool], {}
        for pool in pools:
            await pool.close()

    def _address(self, replica: str) -> tuple[str, int]:
        if replica:
            host, _, port = replica.rpartition(":")
            return host.strip("[]"), int(port)
        return str(self.config.host), int(self.config.port or 3306)

    def _pool(self, replica: str) -> _Pool:
        pool = self._pools.get(replica)
        if pool is None:
            address = self._address(replica)
            pool = self._pools[replica] = _Pool(self.size, lambda: self._connect(*address))
        return pool

    async def _connect(self, host: str, port: int, *, writable: bool = False) -> Any:
        raw: Any = DriverConnection(  # type: ignore[no-untyped-call]
            host=host,
            port=port,
            user=self.config.username,
            password=self.config.password or "",
            database=self.config.database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=self.timeout,
            init_command=self._writable_session_sql if writable else self._session_sql,
            client_flag=CLIENT.FOUND_ROWS,
            cursor_cls=_QuietCursor,
        )
        raw._client_flag &= ~CLIENT.MULTI_STATEMENTS
        try:
            async with asyncio.timeout(self.timeout):
                await raw.connect()
        except TimeoutError:
            raw.close()
            message = f"database {self.config.name!r} is unreachable (no answer within {self.timeout:g}s)"
            raise Unavailable(message) from None
        except BaseException:
            raw.close()
            raise
        return raw

    async def acquire(self, replica: str = "") -> Connection:
        pool = self._replication_pool if self.writable_path() else self._pool(replica)
        return _MysqlConnection(await pool.acquire(), pool)

    async def acquire_transaction(self) -> Connection:
        pool = self._replication_pool if self.writable_path() else self._transaction_pool
        return _MysqlConnection(await pool.acquire(), pool)

    async def release(self, conn: Connection, *, discard: bool = False) -> None:
        own = self._own(conn)
        raw = own.raw
        if own.xa_prepared and raw.connected:
            # A polite COM_QUIT, so that the server detaches the prepared transaction at once.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await raw.ensure_closed()
        keep = not (discard or own.xa_id or not raw.connected or raw.get_transaction_status())
        own.pool.release(raw, keep=keep)

    def pool_usage(self) -> tuple[int, int]:
        pool = self._pools.get("")
        return (pool.in_use if pool else 0), self.size

    @staticmethod
    def _own(conn: Connection) -> _MysqlConnection:
        assert isinstance(conn, _MysqlConnection)
        return conn

    # --- catalog and status ---------------------------------------------------------------

    async def server_version(self, conn: Connection) -> str:
        rows = await conn.fetch("SELECT VERSION()", [])
        return str(rows[0][0])

    async def introspect(self) -> Catalog:
        """Tables and views of the configured database, from information_schema."""
        schema = [self.config.database]
        where = f"TABLE_SCHEMA = {self.dialect.placeholder(1)}"
        async with self.connection() as conn:
            tables = await conn.fetch(
                "SELECT TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES"
                f" WHERE {where} ORDER BY TABLE_NAME",
                schema,
            )
            columns = await conn.fetch(
                "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION,"
                f" NUMERIC_SCALE, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE {where}"
                " ORDER BY TABLE_NAME, ORDINAL_POSITION",
                schema,
            )
            checks = await conn.fetch(
                "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
                f" WHERE CONSTRAINT_SCHEMA = {self.dialect.placeholder(1)}",
                schema,
            )
            keys = await conn.fetch(
                "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS"
                f" WHERE {where} AND NON_UNIQUE = 0 ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                schema,
            )
            references = await conn.fetch(
                "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME"
                f" FROM information_schema.KEY_COLUMN_USAGE WHERE {where}"
                f" AND REFERENCED_TABLE_SCHEMA = {self.dialect.placeholder(1)}"
                " ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
                schema,
            )
        json_columns = {(str(table), json_checked_column(str(clause))) for table, clause in checks}
        by_table: dict[str, dict[str, ColumnInfo]] = {}
        for table, name, data_type, column_type, nullable, precision, scale, charset, collation in columns:
            logical = mysql_logical(str(data_type), str(column_type), (table, name) in json_columns)
            exact = exact_collation(charset, collation) if logical == Logical.STRING else None
            decimal = logical == Logical.DECIMAL
            by_table.setdefault(str(table), {})[str(name)] = ColumnInfo(
                str(name),
                str(column_type),
                logical,
                nullable == "YES",
                int(scale) if decimal and scale is not None else None,
                int(precision) if decimal and precision is not None else None,
                exact_collation=exact,
                case_insensitive=exact is not None,
            )
        indexes: dict[tuple[str, str], list[str]] = {}
        for table, index, column in keys:
            indexes.setdefault((str(table), str(index)), []).append(str(column))
        foreign: dict[tuple[str, str], tuple[str, list[str], list[str]]] = {}
        for constraint, table, column, referenced, referenced_column in references:
            entry = foreign.setdefault((str(table), str(constraint)), (str(referenced), [], []))
            entry[1].append(str(column))
            entry[2].append(str(referenced_column))
        catalog = Catalog()
        for table, kind, storage in tables:
            name = str(table)
            catalog.collections[name] = CollectionInfo(
                name,
                by_table.get(name, {}),
                tuple(indexes.get((name, "PRIMARY"), ())),
                tuple(tuple(cols) for (t, index), cols in indexes.items() if t == name and index != "PRIMARY"),
                is_view=kind == "VIEW",
                clustered=str(storage).lower() == "innodb",
                foreign_keys=tuple(
                    ForeignKeyInfo(constraint, tuple(cols), referenced, tuple(ref_cols))
                    for (t, constraint), (referenced, cols, ref_cols) in foreign.items()
                    if t == name
                ),
            )
        return catalog

    # --- transactions and XA ------------------------------------------------------------------

    async def begin(self, conn: Connection, global_id: str) -> None:
        own = self._own(conn)
        if not global_id:
            await own.execute("BEGIN", [])
            return
        await own.execute(f"XA START {_XID}", self._xid(global_id))
        own.xa_id = global_id

    async def prepare(self, conn: Connection, global_id: str) -> None:
        own = self._own(conn)
        await own.execute(f"XA END {_XID}", self._xid(global_id))
        await own.execute(f"XA PREPARE {_XID}", self._xid(global_id))
        own.xa_prepared = True

    async def commit(self, conn: Connection) -> None:
        own = self._own(conn)
        if not own.xa_id:
            await own.execute("COMMIT", [])
            return
        await own.execute(f"XA END {_XID}", self._xid(own.xa_id))
        await own.execute(f"XA COMMIT {_XID} ONE PHASE", self._xid(own.xa_id))
        own.xa_id = ""

    async def rollback(self, conn: Connection) -> None:
        own = self._own(conn)
        if not own.xa_id:
            await own.execute("ROLLBACK", [])
            return
        with contextlib.suppress(driver_errors.OperationalError):  # already ended, or rolled back
            await own.execute(f"XA END {_XID}", self._xid(own.xa_id))
        try:
            await own.execute(f"XA ROLLBACK {_XID}", self._xid(own.xa_id))
        except driver_errors.MySQLError as exc:
            if _code(exc) not in _XA_ROLLED_BACK:
                raise
        own.xa_id = ""

    async def commit_prepared(self, global_id: str) -> None:
        await self._end_prepared("COMMIT", global_id)

    async def rollback_prepared(self, global_id: str) -> None:
        await self._end_prepared("ROLLBACK", global_id)

    async def _end_prepared(self, verb: str, global_id: str) -> None:
        """XA COMMIT / XA ROLLBACK of a prepared transaction. One the server still lists may be
        attached to a session that is closing: wait for it briefly. A branch the server rolled
        back by itself changed nothing (see the module docstring): that is not an error."""
        give_up = time.monotonic() + min(self.timeout, _DETACH_WAIT_SECS)
        async with self.connection() as conn:
            while True:
                try:
                    await conn.execute(f"XA {verb} {_XID}", self._xid(global_id))
                    return
                except driver_errors.MySQLError as exc:
                    if _code(exc) in _XA_ROLLED_BACK:
                        return
                    if _code(exc) != _XAER_NOTA:
                        raise
                try:
                    listed = global_id in {gid for gid, _ in await self._recover(conn)}
                except driver_errors.MySQLError as exc:
                    if not 0 < _code(exc) < 2000:
                        raise
                    listed = True  # not allowed to list them: wait, in case it is still attached
                if not listed or time.monotonic() > give_up:
                    why = "is still attached to a session" if listed else "does not exist"
                    raise NotFound(f"prepared transaction {global_id!r} {why} in database {self.config.name!r}")
                await asyncio.sleep(0.01)

    async def recover(self) -> list[tuple[str, str]]:
        async with self.connection() as conn:
            return await self._recover(conn)

    def _branch(self) -> str:
        """The branch qualifier of this database's XA ids: its name (a digest past 64 bytes)."""
        name = self.config.database or ""
        return name if len(name.encode()) <= 64 else hashlib.sha256(name.encode()).hexdigest()

    def _xid(self, global_id: str) -> list[Any]:
        return [global_id, self._branch()]

    async def _recover(self, conn: Connection) -> list[tuple[str, str]]:
        """XA RECOVER lists the server's prepared transactions, of every database and program (XA
        ids are server-wide); only dbmesh's branches of this database are reported (see the
        module docstring). MariaDB has no prepare time."""
        found = []
        branch = self._branch()
        for format_id, gtrid_length, bqual_length, data in await conn.fetch("XA RECOVER", []):
            raw = data if isinstance(data, bytes) else str(data).encode()
            gtrid, bqual = raw[: int(gtrid_length)], raw[int(gtrid_length) : int(gtrid_length) + int(bqual_length)]
            gid = gtrid.decode("utf-8", "replace")
            if int(format_id) == XA_FORMAT and bqual == branch.encode() and is_dbmesh_global_id(gid):
                found.append((gid, ""))
        return found

    # --- errors -------------------------------------------------------------------------------

    def connection_is_broken(self, exc: BaseException) -> bool:
        """Cancellation or a timeout leaves a half-read reply (the driver closes the connection);
        a client-side error (2000-2999) means the connection is gone. Server errors, including a
        statement stopped by max_statement_time, leave it usable."""
        if isinstance(exc, (asyncio.CancelledError, TimeoutError, OSError, Unavailable)):
            return True
        if isinstance(exc, driver_errors.MySQLError):
            code = _code(exc)
            return code == 0 or 2000 <= code < 3000
        return False

    def map_error(self, exc: BaseException) -> ResolverError:
        """The contract's error for a driver exception (docs/reference.md §8); messages name the
        database, never its address or credentials."""
        if isinstance(exc, ResolverError):
            return exc
        where = f"database {self.config.name!r}"
        if isinstance(exc, driver_errors.MySQLError):
            code = _code(exc)
            message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            error = Unavailable if code == 0 or 2000 <= code < 3000 else _ERRORS.get(code, DatabaseError)
            if error is Unavailable:
                cause = exc.__cause__
                if isinstance(cause, TimeoutError):
                    return Unavailable(f"{where} is unreachable (connect timed out after {self.timeout:g}s)")
                if isinstance(cause, OSError):
                    return Unavailable(f"{where} is unreachable ({_os_reason(cause)})")
            if code in _READ_ONLY:
                return ReadOnly(self.config.name, f"error {code}: {message}")
            if error in (AlreadyExists, ConstraintViolation):
                return error(mysql_constraint(self.config.name, code, message))
            return error(f"{where}: error {code}: {message}")
        if isinstance(exc, TimeoutError):
            return DeadlineExceeded(f"{where}: no answer within {self.timeout:g}s")
        if isinstance(exc, OSError):
            return Unavailable(f"{where} is unreachable ({_os_reason(exc)})")
        return DatabaseError(f"{where}: {DRIVER_FAILED}")
