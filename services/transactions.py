"""Open transactions of one resolver: each holds a dedicated connection until it is committed,
rolled back or prepared (docs/reference.md §8, two-phase commit).

A transaction id is handed out by Begin and names the transaction in later calls. Calls on one
transaction are serialised. Open transactions are bounded, apart from the reads: at most
`max_transactions` at once (a Begin beyond is refused at once with RESOURCE_EXHAUSTED, rather than
waiting), each on a connection of the engine's transaction pool, never of the read pool. One left
idle for longer than `transaction_idle_secs` (its caller went away) is rolled back and its
connection returned, so a crashed or hostile caller cannot hold connections or locks for ever.
Prepared transactions are the engine's: they outlive this process and are committed or rolled back
by global id (see `Engine.commit_prepared`, `Engine.recover`); `Engine.recover` lists only dbmesh's,
of its own database (`is_dbmesh_global_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from dbmesh.services.engines.base import Connection, Engine
from dbmesh.services.errors import InvalidArgument, NotFound, ResourceExhausted

__all__ = ["GLOBAL_ID", "GLOBAL_ID_PREFIX", "Transaction", "Transactions", "check_global_id", "is_dbmesh_global_id"]

log = logging.getLogger("dbmesh.resolver")

# Global ids end up in statements that take no parameters (PREPARE TRANSACTION 'gid', XA START
# 'gid'), so they are restricted to characters that cannot break out of a string literal.
GLOBAL_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


# dbmesh's prepared transactions carry this prefix (the coordinator names them `dbmesh.<...>`):
# Recover lists only those, so recovery never sees what other programs prepared in the database.
GLOBAL_ID_PREFIX = "dbmesh"


def is_dbmesh_global_id(global_id: str) -> bool:
    """Is `global_id` one of dbmesh's (its prefix, and a valid global id)?"""
    return global_id.startswith(GLOBAL_ID_PREFIX) and GLOBAL_ID.fullmatch(global_id) is not None


def check_global_id(global_id: str) -> str:
    if not GLOBAL_ID.fullmatch(global_id):
        raise InvalidArgument(f"invalid global id {global_id[:70]!r} (expected [A-Za-z0-9_.:-]{{1,64}})")
    return global_id


@dataclass
class Transaction:
    id: str
    conn: Connection
    global_id: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)


class Transactions:
    def __init__(self, engine: Engine, limit: int, idle_timeout: float) -> None:
        self.engine = engine
        self.limit = limit
        self.idle_timeout = idle_timeout
        self._open: dict[str, Transaction] = {}
        self._starting = 0  # Begins between the limit check and their transaction's registration
        self._reaper: asyncio.Task[None] | None = None

    def open_count(self) -> int:
        """Transactions open now, Begins in progress included."""
        return len(self._open) + self._starting

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def close(self) -> None:
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for tx in list(self._open.values()):
            await self._finish(tx, commit=False)

    async def begin(self, global_id: str) -> str:
        if global_id:
            check_global_id(global_id)
        count = self.open_count()
        if count >= self.limit:
            raise ResourceExhausted(
                f"database {self.engine.config.name!r} has {count} open transactions, its limit"
                f" (max_transactions = {self.limit}); commit or roll back one first"
            )
        self._starting += 1
        try:
            conn = await self.engine.acquire_transaction()
            try:
                await self.engine.begin(conn, global_id)
            except BaseException:
                await self.engine.release(conn, discard=True)
                raise
            tx = Transaction(secrets.token_hex(16), conn, global_id)
            self._open[tx.id] = tx
        finally:
            self._starting -= 1
        return tx.id

    @contextlib.asynccontextmanager
    async def use(self, transaction_id: str) -> AsyncIterator[Transaction]:
        """The open transaction `transaction_id`, held exclusively while in use."""
        tx = self._open.get(transaction_id)
        if tx is None:
            raise NotFound(f"no open transaction {transaction_id[:40]!r}")
        async with tx.lock:
            if self._open.get(transaction_id) is not tx:
                raise NotFound(f"no open transaction {transaction_id[:40]!r}")
            try:
                yield tx
            finally:
                tx.last_used = time.monotonic()

    async def prepare(self, transaction_id: str) -> str:
        async with self.use(transaction_id) as tx:
            if not tx.global_id:
                raise InvalidArgument("only a transaction begun with a global id can be prepared")
            try:
                await self.engine.prepare(tx.conn, tx.global_id)
            except BaseException:
                await self._finish(tx, commit=False)
                raise
            self._open.pop(tx.id, None)
            await self.engine.release(tx.conn)
            return tx.global_id

    async def end(self, transaction_id: str, *, commit: bool) -> None:
        async with self.use(transaction_id) as tx:
            await self._finish(tx, commit=commit)

    async def _finish(self, tx: Transaction, *, commit: bool) -> None:
        self._open.pop(tx.id, None)
        discard = False
        try:
            if commit:
                await self.engine.commit(tx.conn)
            else:
                await self.engine.rollback(tx.conn)
        except BaseException:
            discard = True
            if commit:  # a failed commit is rolled back by the engine; the caller must know
                raise
        finally:
            await self.engine.release(tx.conn, discard=discard)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, max(0.25, self.idle_timeout / 4)))
            now = time.monotonic()
            for tx in list(self._open.values()):
                if now - tx.last_used > self.idle_timeout and not tx.lock.locked():
                    log.warning("rolling back transaction %s: idle for %.0fs", tx.id, now - tx.last_used)
                    with contextlib.suppress(Exception):
                        await self._finish(tx, commit=False)
