"""The transaction coordinator (docs/reference.md §10): one per router, beside the resolver
client, never inside the router.

It hands out one `Transaction` per mutation operation, keeps the heartbeat that tells other
routers it is alive (a row in `dbmesh_coordinators`, renewed every `recovery_interval_secs`, valid
for `lease_secs`), and runs recovery on start and then periodically (`dbmesh.coordinator.recovery`).
The log tables are created when first needed: at the first operation that writes several
databases, or by recovery in a mesh with more than one writable database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable, Mapping

from dbmesh.config import Config
from dbmesh.coordinator.ids import new_owner
from dbmesh.coordinator.log import DecisionLog, LogEntry, SqliteDecisions, now_ms
from dbmesh.coordinator.recovery import InDoubt, Recovery, Resolution
from dbmesh.coordinator.transaction import Transaction
from dbmesh.resolver.client import CallError, ResolverClient

__all__ = ["Coordinator"]

log = logging.getLogger("dbmesh.coordinator")


class Coordinator:
    def __init__(self, config: Config, clients: Mapping[str, ResolverClient]) -> None:
        self.config = config
        self.clients = clients
        self.owner = new_owner()
        self.settings = config.transactions
        name = self.settings.log_database
        self.log: DecisionLog | None = DecisionLog(clients[name]) if name and name in clients else None
        self.active: set[str] = set()  # transactions of this process between Prepare and their end
        self._engines = {d.name: d.engine for d in config.databases}
        self._decisions: dict[str, SqliteDecisions] = {}
        self._joined = False
        self._join_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._recovery = Recovery(self)

    def engine(self, database: str) -> str:
        return self._engines[database]

    def begin(self, databases: Iterable[str] = (), *, replication: Iterable[str] = ()) -> Transaction:
        """A transaction for one mutation operation. `databases` (optional: those its fields
        write) lets an operation that cannot be one transaction (two SQLite databases) be refused
        with TransactionAborted before anything is written. `replication`: the databases it
        writes as dbmesh's own replication (a sync job's target, which may be read_only)."""
        return Transaction(self, databases, replication=replication)

    def decisions(self, database: str) -> SqliteDecisions:
        found = self._decisions.get(database)
        if found is None:
            found = self._decisions[database] = SqliteDecisions(self.clients[database])
        return found

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_secs * 1000)

    async def join_log(self) -> None:
        """Create the log tables and write this coordinator's heartbeat, once, before its first
        transaction prepares anything."""
        if self._joined or self.log is None:
            return
        async with self._join_lock:
            if not self._joined:
                await self._heartbeat()
                self._joined = True

    async def _heartbeat(self) -> None:
        assert self.log is not None
        await self.log.heartbeat(self.owner, now_ms() + self.lease_ms, f"{socket.gethostname()} pid {os.getpid()}")

    # --- recovery ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recovery once now, then every [transactions] recovery_interval_secs."""
        await self._tick()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._joined and self.log is not None:
            with contextlib.suppress(CallError):
                await self.log.leave(self.owner)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.recovery_interval_secs)
            await self._tick()

    async def _tick(self) -> None:
        try:
            if self._joined:
                await self._heartbeat()
            for resolution in await self.recover():
                log.info("recovery: %s", resolution.line())
            if self.log is not None and self._joined:
                await self.log.prune(now_ms() - int(self.settings.history_secs * 1000))
        except CallError as exc:
            log.warning("recovery could not run now: %s", exc.detail)

    async def recover(self, strict: bool = False) -> list[Resolution]:
        """Resolve every in-doubt transaction that is not in flight in a live coordinator; what
        was done, one entry per prepared transaction. A database whose resolver cannot list its
        prepared transactions is skipped until the next round (`strict`: its CallError raises)."""
        return await self._recovery.run(strict)

    async def in_doubt(self, strict: bool = False) -> list[InDoubt]:
        """dbmesh's prepared transactions in every PostgreSQL and MySQL database, with what the
        log says of each (`strict` as for `recover`)."""
        return await self._recovery.in_doubt(strict)

    async def history(self, limit: int = 100) -> list[LogEntry]:
        """The newest transactions of the coordinator log (decided, finished or not)."""
        if self.log is None:
            return []
        return await self.log.recent(limit)
