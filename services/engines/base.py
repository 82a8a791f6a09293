"""The engine interface: what the servicer needs from one database engine.

An engine owns the database's connection pools (created lazily, so a resolver starts even when its
database is down and reports UNAVAILABLE until it is back): the read pool of `pool_size`
connections (and one per replica), and the transaction pool of `max_transactions` connections that
open transactions hold, so that they never starve reads. It introspects the catalog, runs
statements, runs two-phase commit where the engine has it, and maps its driver's exceptions to
`services.errors` in one method, `map_error`.

Replication (docs/reference.md §10-§11): a `read_only` database is opened read-only, so the
database itself refuses writes; dbmesh's own replication (write-through and sync targets) may still
write there. The servicer runs such a request inside `Engine.replication()`, and while it does, the
connections the request acquires come from the engine's small writable path (`writable_path`),
which nothing else reaches.

Deadlines: every statement runs under the database's `timeout_secs` (or the caller's shorter gRPC
deadline). Engines set a server-side statement timeout so the database stops the work and the
connection stays usable; `run_deadline` is the backstop when the server does not answer at all.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from dbmesh.config import DatabaseConfig
from dbmesh.services.catalog import Catalog
from dbmesh.services.dialects.base import Dialect
from dbmesh.services.errors import DeadlineExceeded, ResolverError, Unimplemented

__all__ = ["DRIVER_FAILED", "Connection", "Engine", "Status"]

# What a client is told of a failure that is not the database's (a driver or resolver fault); the
# exception's class and traceback go to the resolver's log instead (services.servicer).
DRIVER_FAILED = "the request failed in the resolver's database driver (details are in the resolver's log)"


# Set (per task: each RPC runs in its own) while a replication request runs; see `Engine.replication`.
_REPLICATING: contextvars.ContextVar[bool] = contextvars.ContextVar("dbmesh_replicating", default=False)


class Connection(Protocol):
    """One database connection. Rows are sequences of driver values in select order."""

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]: ...

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run a statement that returns no rows; the number of rows it affected."""
        ...


@dataclass(frozen=True)
class Status:
    connected: bool
    latency_ms: float = 0.0
    server_version: str = ""
    error: str = ""


class Engine(abc.ABC):
    name: ClassVar[str]
    dialect: Dialect
    two_phase_commit: ClassVar[bool] = False

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.timeout = float(config.timeout_secs)

    # --- lifecycle and pool ---------------------------------------------------------------

    @contextlib.contextmanager
    def replication(self) -> Iterator[None]:
        """Within this block, this task's connections (`acquire`, `acquire_transaction`) are
        writable even on a read_only database: for requests of dbmesh's own replication only."""
        token = _REPLICATING.set(True)
        try:
            yield
        finally:
            _REPLICATING.reset(token)

    def writable_path(self) -> bool:
        """Should the connection acquired now come from the writable replication path (a
        read_only database, inside `replication()`)?"""
        return self.config.read_only and _REPLICATING.get()

    @abc.abstractmethod
    async def open(self) -> None:
        """Prepare the pool without requiring the database to be up."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def acquire(self, replica: str = "") -> Connection:
        """A connection from the pool (of `replica` when given)."""

    @abc.abstractmethod
    async def acquire_transaction(self) -> Connection:
        """A connection for a transaction (Begin), from a pool of `max_transactions` connections
        of its own: open transactions never take connections the reads need."""

    @abc.abstractmethod
    async def release(self, conn: Connection, *, discard: bool = False) -> None:
        """Give `conn` back to the pool it came from; `discard` closes it instead (its state is
        unknown)."""

    @abc.abstractmethod
    def pool_usage(self) -> tuple[int, int]:
        """(connections in use, pool size) of the read pool."""

    @contextlib.asynccontextmanager
    async def connection(self, replica: str = "") -> AsyncIterator[Connection]:
        conn = await self.acquire(replica)
        discard = False
        try:
            yield conn
        except BaseException as exc:
            discard = self.connection_is_broken(exc)
            raise
        finally:
            await self.release(conn, discard=discard)

    def connection_is_broken(self, exc: BaseException) -> bool:
        """After `exc`, can the connection still be reused?"""
        return isinstance(exc, (asyncio.CancelledError, TimeoutError, DeadlineExceeded))

    # --- catalog and status ---------------------------------------------------------------

    @abc.abstractmethod
    async def introspect(self) -> Catalog: ...

    async def status(self, replica: str = "") -> Status:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                async with self.connection(replica) as conn:
                    await conn.fetch("SELECT 1", [])
                    version = await self.server_version(conn)
        except Exception as exc:  # a probe reports, it does not raise
            error = exc if isinstance(exc, ResolverError) else self.map_error(exc)
            return Status(connected=False, error=error.message)
        return Status(True, (time.perf_counter() - start) * 1000, version)

    @abc.abstractmethod
    async def server_version(self, conn: Connection) -> str: ...

    # --- errors -----------------------------------------------------------------------------

    @abc.abstractmethod
    def map_error(self, exc: BaseException) -> ResolverError:
        """The contract's error for a driver exception (docs/reference.md §8 codes). Messages
        name the database and say what happened in a plain sentence (the server's own message,
        SQLSTATE or error number included), never a driver's exception class, a DSN or a
        password."""

    # --- transactions -------------------------------------------------------------------------

    async def begin(self, conn: Connection, global_id: str) -> None:
        await conn.execute("BEGIN", [])

    async def commit(self, conn: Connection) -> None:
        await conn.execute("COMMIT", [])

    async def rollback(self, conn: Connection) -> None:
        await conn.execute("ROLLBACK", [])

    async def prepare(self, conn: Connection, global_id: str) -> None:
        raise Unimplemented(f"{self.name} cannot prepare transactions (no two-phase commit)")

    async def commit_prepared(self, global_id: str) -> None:
        raise Unimplemented(f"{self.name} has no prepared transactions")

    async def rollback_prepared(self, global_id: str) -> None:
        raise Unimplemented(f"{self.name} has no prepared transactions")

    async def recover(self) -> list[tuple[str, str]]:
        """In-doubt prepared transactions: (global id, prepared at ISO 8601 or "")."""
        return []
