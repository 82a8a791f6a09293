"""Recovery of in-doubt transactions (docs/reference.md §10), run by every router on start and
every `recovery_interval_secs`, and by `dbmesh transactions --recover`.

Each PostgreSQL and MySQL resolver lists dbmesh's prepared transactions of its database
(Recover); each global id names its transaction and owner (`ids`). For each transaction:

- in flight in this coordinator, or owned by another coordinator whose heartbeat lease is live:
  left alone (that router finishes it);
- the log says 'commit' (or, for 'pending', the SQLite participant's `dbmesh_decisions` does):
  COMMIT PREPARED / XA COMMIT each participant;
- otherwise (presumed abort): 'abort' is inserted first (compare-and-set in the log, or in the
  SQLite participant's table), then each participant is rolled back. When another router decided
  first, its decision is read and applied instead, so routers never undo each other's work.

"No such prepared transaction" after a Rollback means it is done. After a Commit it is checked
against the log: with a 'commit' decision it was committed already (by the owner or another
router); anything else is reported as lost. Then unfinished log rows whose participants are all
settled (every participant database answered and lists none of them) are marked finished.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbmesh.coordinator.ids import parse_global_id
from dbmesh.coordinator.log import ABORT, COMMIT, PENDING, LogEntry
from dbmesh.resolver.client import CallError

if TYPE_CHECKING:
    from dbmesh.coordinator.coordinator import Coordinator

__all__ = ["InDoubt", "Recovery", "Resolution"]

log = logging.getLogger("dbmesh.coordinator")

_TWO_PHASE = ("postgresql", "mysql")
SETTLED = ("committed", "rolled back", "already committed", "already rolled back")


@dataclass(frozen=True)
class InDoubt:
    """One prepared transaction of dbmesh's, as listed by its database."""

    database: str
    global_id: str
    transaction_id: str
    owner: str
    prepared_at: str
    decision: str  # commit | abort | pending | none
    owner_alive: bool


@dataclass(frozen=True)
class Resolution:
    """What recovery did with one prepared transaction."""

    transaction_id: str
    database: str
    global_id: str
    action: str  # committed | rolled back | already committed | already rolled back | left: ... | failed: ...

    def line(self) -> str:
        return f"{self.action}: {self.global_id} on {self.database} (transaction {self.transaction_id})"


@dataclass(frozen=True)
class _Branch:
    database: str
    global_id: str
    owner: str
    prepared_at: str


@dataclass
class _Scan:
    prepared: dict[str, list[_Branch]]  # by transaction id
    answered: set[str]  # databases whose resolver listed its prepared transactions


class Recovery:
    def __init__(self, coordinator: Coordinator) -> None:
        self.c = coordinator

    def _databases(self) -> list[str]:
        return [
            d.name
            for d in self.c.config.databases
            if d.engine in _TWO_PHASE and not d.read_only and d.name in self.c.clients
        ]

    def _log_needed(self) -> bool:
        writable = [d for d in self.c.config.databases if not d.read_only]
        return self.c.log is not None and len(writable) > 1

    async def _scan(self, strict: bool) -> _Scan:
        """Every PostgreSQL/MySQL database's prepared transactions; one that cannot be listed is
        skipped (logged), or raises when `strict`."""
        scan = _Scan(defaultdict(list), set())
        for database in self._databases():
            try:
                listed = await self.c.clients[database].recover()
            except CallError as exc:
                if strict:
                    raise
                log.warning("recovery: cannot list prepared transactions of %s: %s", database, exc.detail)
                continue
            scan.answered.add(database)
            for prepared in listed:
                name = parse_global_id(prepared.global_id)
                if name is not None:
                    branch = _Branch(database, prepared.global_id, name.owner, prepared.prepared_at)
                    scan.prepared[name.transaction_id].append(branch)
        return scan

    async def _live_owners(self) -> set[str]:
        return await self.c.log.live_owners() if self.c.log is not None else set()

    async def in_doubt(self, strict: bool = False) -> list[InDoubt]:
        scan = await self._scan(strict)
        live = await self._live_owners() if scan.prepared else set()
        found = []
        for transaction_id, branches in scan.prepared.items():
            entry = await self.c.log.get(transaction_id) if self.c.log is not None else None
            decision = await self._known_decision(entry) or "none"
            for b in branches:
                alive = b.owner in live or transaction_id in self.c.active
                found.append(InDoubt(b.database, b.global_id, transaction_id, b.owner, b.prepared_at, decision, alive))
        return found

    async def _known_decision(self, entry: LogEntry | None) -> str | None:
        """The decision as recorded (the SQLite participant's for a 'pending' row), if any."""
        if entry is None:
            return None
        if entry.decision != PENDING:
            return entry.decision
        decided = await self.c.decisions(entry.decided_in).get(entry.transaction_id)
        if decided is not None and self.c.log is not None:
            await self.c.log.settle_pending(entry.transaction_id, decided)
        return decided

    def _in_flight(self, transaction_id: str, owner: str, live: set[str]) -> str | None:
        if transaction_id in self.c.active:
            return "left: in flight in this coordinator"
        if owner != self.c.owner and owner in live:
            return f"left: its coordinator {owner} is alive"
        return None

    async def _decide(self, transaction_id: str, owner: str, entry: LogEntry | None) -> str:
        """The decision to apply, deciding 'abort' first (compare-and-set) when there is none."""
        decided = await self._known_decision(entry)
        if decided is not None:
            return decided
        if entry is not None and entry.decision == PENDING:
            decisions = self.c.decisions(entry.decided_in)
            if await decisions.abort_first(transaction_id):
                decided = ABORT
            else:
                decided = await decisions.get(transaction_id) or ABORT
            if self.c.log is not None:
                await self.c.log.settle_pending(transaction_id, decided)
            return decided
        if self.c.log is None:
            return ABORT  # without a log nothing was ever decided 'commit'
        if await self.c.log.decide(transaction_id, ABORT, owner):
            return ABORT
        again = await self.c.log.get(transaction_id)
        return await self._known_decision(again) or ABORT

    async def run(self, strict: bool = False) -> list[Resolution]:
        scan = await self._scan(strict)
        if not scan.prepared and not self._log_needed():
            return []
        live = await self._live_owners()
        done: list[Resolution] = []
        for transaction_id, branches in scan.prepared.items():
            owner = branches[0].owner
            left = self._in_flight(transaction_id, owner, live)
            if left is not None:
                done += [Resolution(transaction_id, b.database, b.global_id, left) for b in branches]
                continue
            try:
                entry = await self.c.log.get(transaction_id) if self.c.log is not None else None
                decision = await self._decide(transaction_id, owner, entry)
            except CallError as exc:
                left = f"left: no decision now ({exc.detail})"
                done += [Resolution(transaction_id, b.database, b.global_id, left) for b in branches]
                continue
            for b in branches:
                done.append(await self._finish(transaction_id, b.database, b.global_id, decision))
        if self._log_needed():
            await self._settle_rows(scan, live, done)
        return done

    async def _finish(self, transaction_id: str, database: str, gid: str, decision: str) -> Resolution:
        commit = decision == COMMIT
        try:
            finished = await self.c.clients[database].finish_prepared(gid, commit=commit)
        except CallError as exc:
            return Resolution(transaction_id, database, gid, f"failed: {exc.detail}")
        if finished:
            return Resolution(transaction_id, database, gid, "committed" if commit else "rolled back")
        if not commit:
            return Resolution(transaction_id, database, gid, "already rolled back")
        entry = await self.c.log.get(transaction_id) if self.c.log is not None else None
        if entry is not None and await self._known_decision(entry) == COMMIT:
            return Resolution(transaction_id, database, gid, "already committed")
        log.error("transaction %s: %s on %s is gone without a commit decision", transaction_id, gid, database)
        return Resolution(transaction_id, database, gid, "lost")

    async def _settle_rows(self, scan: _Scan, live: set[str], done: list[Resolution]) -> None:
        """Mark finished the log rows whose participants are all committed or rolled back."""
        assert self.c.log is not None
        unsettled = {r.transaction_id for r in done if r.action not in SETTLED}
        for entry in await self.c.log.unfinished():
            if entry.transaction_id in unsettled or self._in_flight(entry.transaction_id, entry.owner, live):
                continue
            databases = {p.database for p in entry.participants if p.global_id}
            if not databases <= scan.answered:
                continue
            decision = await self._decide(entry.transaction_id, entry.owner, entry)
            await self.c.log.finish(entry.transaction_id)
            if entry.decided_in and decision == COMMIT:
                await self.c.decisions(entry.decided_in).forget(entry.transaction_id)
