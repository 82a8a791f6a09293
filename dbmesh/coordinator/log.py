"""The coordinator log (docs/reference.md §10), kept in `dbmesh_` tables of `[transactions]
log_database` and written through that database's resolver like any table (the coordinator never
sends SQL; the resolver creates the tables from its own DDL, EnsureSystemTables).

    dbmesh_transactions   one row per transaction that wrote several databases:
                          decision  'commit'  durable before any participant commits
                                    'abort'   written by recovery (or the owner) before rolling back
                                    'pending' the decision is the SQLite participant's (decided_in)
                          participants (JSON: database and global id of each), owner, times (ms)
    dbmesh_coordinators   one row per live coordinator process: owner, lease_until (its heartbeat)
    dbmesh_decisions      (in a SQLite participant) the commit record written in the same local
                          transaction as that participant's writes, or recovery's abort

Decisions are compare-and-set inserts on the transaction id (the primary key): whoever inserts
first decides, the other gets ALREADY_EXISTS and reads the decision. So the owner's commit and a
recovery's abort can never both win, whatever the clocks say; the heartbeat lease only keeps a
router from aborting another live router's transaction in flight.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from dbmesh.coordinator._requests import all_of, eq, is_null, lt, query, row, rows, value
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["ABORT", "COMMIT", "PENDING", "DecisionLog", "LogEntry", "Participant", "SqliteDecisions", "now_ms"]

COMMIT = "commit"
ABORT = "abort"
PENDING = "pending"

TRANSACTIONS = "dbmesh_transactions"
COORDINATORS = "dbmesh_coordinators"
DECISIONS = "dbmesh_decisions"
_ENTRY_COLUMNS = (
    "transaction_id",
    "decision",
    "decided_in",
    "owner",
    "participants",
    "created_at",
    "decided_at",
    "finished_at",
)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Participant:
    database: str
    global_id: str  # "" for the SQLite participant (it cannot prepare)


@dataclass(frozen=True)
class LogEntry:
    transaction_id: str
    decision: str
    decided_in: str
    owner: str
    participants: tuple[Participant, ...]
    created_at: int
    decided_at: int | None
    finished_at: int | None


def _entry(found: dict[str, Any]) -> LogEntry:
    parts = json.loads(str(found["participants"]))
    return LogEntry(
        transaction_id=str(found["transaction_id"]),
        decision=str(found["decision"]),
        decided_in=str(found["decided_in"]),
        owner=str(found["owner"]),
        participants=tuple(Participant(p["database"], p["global_id"]) for p in parts),
        created_at=int(found["created_at"]),
        decided_at=None if found["decided_at"] is None else int(found["decided_at"]),
        finished_at=None if found["finished_at"] is None else int(found["finished_at"]),
    )


class DecisionLog:
    """The log tables in one database, through its resolver."""

    def __init__(self, client: ResolverClient) -> None:
        self.client = client
        self.database = client.name
        self._ready = False

    async def ensure(self) -> None:
        """Create the log tables on first use (once per process)."""
        if not self._ready:
            await self.client.ensure_system_tables([TRANSACTIONS, COORDINATORS])
            self._ready = True

    # --- decisions ------------------------------------------------------------------------------

    def _insert(
        self, transaction_id: str, decision: str, owner: str, participants: tuple[Participant, ...], decided_in: str
    ) -> pb.MutateRequest:
        at = now_ms()
        entry: dict[str, str | int | None] = {
            "transaction_id": transaction_id,
            "decision": decision,
            "decided_in": decided_in,
            "owner": owner,
            "participants": json.dumps([{"database": p.database, "global_id": p.global_id} for p in participants]),
            "created_at": at,
            "decided_at": None if decision == PENDING else at,
            "finished_at": None,
        }
        return pb.MutateRequest(collection=TRANSACTIONS, insert=pb.Insert(rows=[row(entry)]))

    async def decide(
        self,
        transaction_id: str,
        decision: str,
        owner: str,
        participants: tuple[Participant, ...] = (),
        decided_in: str = "",
    ) -> bool:
        """Insert the transaction's row with `decision`: False when it has a row already (someone
        decided first; read it with `get`)."""
        await self.ensure()
        return await self.client.insert_new(self._insert(transaction_id, decision, owner, participants, decided_in))

    async def settle_pending(self, transaction_id: str, decision: str) -> None:
        """Copy a SQLite participant's decision into a 'pending' row (for listing and recovery)."""
        predicate = all_of(eq("transaction_id", transaction_id), eq("decision", PENDING))
        update = pb.Update(predicate=predicate, set={"decision": value(decision), "decided_at": value(now_ms())})
        await self.client.mutate(pb.MutateRequest(collection=TRANSACTIONS, update=update))

    async def finish(self, transaction_id: str) -> None:
        """Every participant is committed or rolled back."""
        predicate = all_of(eq("transaction_id", transaction_id), is_null("finished_at"))
        update = pb.Update(predicate=predicate, set={"finished_at": value(now_ms())})
        await self.client.mutate(pb.MutateRequest(collection=TRANSACTIONS, update=update))

    async def get(self, transaction_id: str) -> LogEntry | None:
        await self.ensure()
        found = rows(
            await self.client.query(query(TRANSACTIONS, _ENTRY_COLUMNS, eq("transaction_id", transaction_id))),
            _ENTRY_COLUMNS,
        )
        return _entry(found[0]) if found else None

    async def unfinished(self) -> list[LogEntry]:
        await self.ensure()
        request = query(TRANSACTIONS, _ENTRY_COLUMNS, is_null("finished_at"), order_by=["created_at"])
        return [_entry(r) for r in rows(await self.client.query(request), _ENTRY_COLUMNS)]

    async def recent(self, limit: int = 100) -> list[LogEntry]:
        """The newest rows, newest first."""
        await self.ensure()
        request = query(TRANSACTIONS, _ENTRY_COLUMNS, limit=limit)
        request.order_by.append(pb.OrderBy(column="created_at", direction=pb.DIRECTION_DESC))
        return [_entry(r) for r in rows(await self.client.query(request), _ENTRY_COLUMNS)]

    async def prune(self, older_than_ms: int) -> None:
        """Forget finished transactions and dead coordinators older than `older_than_ms`."""
        finished = all_of(is_null("finished_at", False), lt("finished_at", older_than_ms))
        await self.client.mutate(pb.MutateRequest(collection=TRANSACTIONS, delete=pb.Delete(predicate=finished)))
        dead = lt("lease_until", older_than_ms)
        await self.client.mutate(pb.MutateRequest(collection=COORDINATORS, delete=pb.Delete(predicate=dead)))

    # --- coordinators -----------------------------------------------------------------------------

    async def heartbeat(self, owner: str, lease_until: int, process: str) -> None:
        await self.ensure()
        entry: dict[str, str | int | None] = {
            "owner": owner,
            "lease_until": lease_until,
            "started_at": now_ms(),
            "process": process,
        }
        upsert = pb.Upsert(rows=[row(entry)], update_columns=["lease_until"])
        await self.client.mutate(pb.MutateRequest(collection=COORDINATORS, upsert=upsert))

    async def leave(self, owner: str) -> None:
        delete = pb.Delete(predicate=eq("owner", owner))
        await self.client.mutate(pb.MutateRequest(collection=COORDINATORS, delete=delete))

    async def live_owners(self) -> set[str]:
        """Coordinators whose lease has not run out."""
        await self.ensure()
        columns = ("owner", "lease_until")
        found = rows(await self.client.query(query(COORDINATORS, columns)), columns)
        at = now_ms()
        return {str(r["owner"]) for r in found if int(r["lease_until"]) > at}


class SqliteDecisions:
    """`dbmesh_decisions` in a SQLite participant: its local commit carries the decision."""

    COLUMNS = ("transaction_id", "decision", "decided_at")

    def __init__(self, client: ResolverClient) -> None:
        self.client = client
        self.database = client.name
        self._ready = False

    async def ensure(self, local_transaction: str = "") -> None:
        """Create the table on first use; inside `local_transaction` (the participant's own, so
        that no second connection has to wait for its write lock) every time it is asked there,
        as that transaction may yet roll back."""
        if local_transaction:
            await self.client.ensure_system_tables([DECISIONS], local_transaction)
        elif not self._ready:
            await self.client.ensure_system_tables([DECISIONS])
            self._ready = True

    def record(self, transaction_id: str, decision: str, local_transaction: str = "") -> pb.MutateRequest:
        """The insert of the decision, inside `local_transaction` when given."""
        entry: dict[str, str | int | None] = {
            "transaction_id": transaction_id,
            "decision": decision,
            "decided_at": now_ms(),
        }
        return pb.MutateRequest(
            collection=DECISIONS, insert=pb.Insert(rows=[row(entry)]), transaction_id=local_transaction
        )

    async def abort_first(self, transaction_id: str) -> bool:
        """Record 'abort' unless a decision is there already (then False: read it)."""
        await self.ensure()
        return await self.client.insert_new(self.record(transaction_id, ABORT))

    async def get(self, transaction_id: str) -> str | None:
        await self.ensure()
        request = query(DECISIONS, self.COLUMNS, eq("transaction_id", transaction_id))
        found = rows(await self.client.query(request), self.COLUMNS)
        return str(found[0]["decision"]) if found else None

    async def forget(self, transaction_id: str) -> None:
        delete = pb.Delete(predicate=eq("transaction_id", transaction_id))
        await self.client.mutate(pb.MutateRequest(collection=DECISIONS, delete=delete))
