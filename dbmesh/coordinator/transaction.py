"""One mutation operation's transaction (docs/reference.md §10): a database transaction per
database it writes, begun on first write, committed together.

Each PostgreSQL and MySQL participant is begun with a global id (`ids.global_id`), so it can be
prepared if the operation turns out to write another database; the SQLite participant (at most
one: it cannot prepare) is begun plainly. One participant: its own plain commit. Several: the
two-phase commit of `dbmesh.coordinator.twophase`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbmesh.coordinator._faults import crash_point
from dbmesh.coordinator.errors import TransactionAborted
from dbmesh.coordinator.ids import global_id, new_transaction_id
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb

if TYPE_CHECKING:
    from dbmesh.coordinator.coordinator import Coordinator

__all__ = ["Transaction", "two_sqlite_databases"]

log = logging.getLogger("dbmesh.coordinator")


def two_sqlite_databases(first: str, second: str) -> TransactionAborted:
    return TransactionAborted(
        f"one mutation operation can write at most one SQLite database (SQLite cannot prepare a"
        f" transaction for two-phase commit); this one writes {first!r} and {second!r}"
    )


@dataclass
class Participant:
    """One database the operation writes: its open transaction and, for PostgreSQL and MySQL,
    the global id it is prepared under."""

    database: str
    client: ResolverClient
    transaction_id: str
    global_id: str  # "" for SQLite
    prepared: bool = False


class Transaction:
    """One mutation operation: one transaction, however many databases it writes.

    Call `mutate` for each root field in document order, then `commit` (or `rollback` after any
    failure, which leaves nothing of the operation applied)."""

    def __init__(
        self, coordinator: Coordinator, databases: Iterable[str] = (), *, replication: Iterable[str] = ()
    ) -> None:
        self.id = new_transaction_id(coordinator.owner)
        self._replication = frozenset(replication)
        self._coordinator = coordinator
        self._participants: dict[str, Participant] = {}
        self._finished = False
        declared = list(dict.fromkeys(databases))
        sqlite = [name for name in declared if coordinator.engine(name) == "sqlite"]
        if len(sqlite) > 1:
            raise two_sqlite_databases(sqlite[0], sqlite[1])

    @property
    def participants(self) -> list[Participant]:
        return list(self._participants.values())

    async def mutate(self, database: str, request: pb.MutateRequest) -> pb.MutateResponse:
        """Runs inside this transaction (Begin on `database` the first time it is written).
        Raises the database's CallError, or TransactionAborted for a second SQLite database."""
        self._check_open()
        participant = self._participants.get(database) or await self._join(database)
        sent = pb.MutateRequest()
        sent.CopyFrom(request)
        sent.transaction_id = participant.transaction_id
        return await participant.client.mutate(sent)

    async def query(self, database: str, request: pb.QueryRequest) -> pb.QueryResponse:
        """A read inside this transaction: it sees the operation's own writes (Begin on
        `database` the first time, as for `mutate`)."""
        self._check_open()
        participant = self._participants.get(database) or await self._join(database)
        sent = pb.QueryRequest()
        sent.CopyFrom(request)
        sent.transaction_id = participant.transaction_id
        return await participant.client.query(sent)

    async def _join(self, database: str) -> Participant:
        coordinator = self._coordinator
        client = coordinator.clients[database]
        if coordinator.engine(database) == "sqlite":
            other = next((p.database for p in self._participants.values() if not p.global_id), None)
            if other is not None:
                raise two_sqlite_databases(other, database)
            gid = ""
        else:
            gid = global_id(self.id, len(self._participants) + 1)
        begun = await client.begin(gid, replication=database in self._replication)
        participant = Participant(database, client, begun, gid)
        self._participants[database] = participant
        crash_point(f"begun:{len(self._participants)}")
        return participant

    async def commit(self) -> None:
        """One database: its plain commit. Several: two-phase commit with a durable decision.
        Raises CallError / TransactionAborted; after a failure nothing of the operation is applied
        (or, when the coordinator log cannot be reached to say which, recovery settles it)."""
        self._check_open()
        self._finished = True
        participants = self.participants
        if len(participants) == 1:
            only = participants[0]
            await only.client.commit(only.transaction_id)
        elif participants:
            from dbmesh.coordinator.twophase import commit_all

            await commit_all(self._coordinator, self.id, participants)

    async def rollback(self) -> None:
        """Roll back every participant (idempotent; a resolver also rolls back an idle one)."""
        if self._finished:
            return
        self._finished = True
        await rollback_all(self.participants)

    def _check_open(self) -> None:
        if self._finished:
            raise TransactionAborted(f"transaction {self.id} is already committed or rolled back")


async def rollback_all(participants: Iterable[Participant]) -> None:
    """Roll back open and prepared participants. A failure is logged, not raised: an open
    transaction left behind is rolled back by its resolver once idle, a prepared one by recovery
    (presumed abort: it has no commit decision)."""
    for number, p in enumerate(participants, 1):
        try:
            if p.prepared:
                await p.client.finish_prepared(p.global_id, commit=False)
            elif p.transaction_id:
                await p.client.rollback(p.transaction_id)
        except CallError as exc:
            log.warning("rolling back %s on %s failed: %s", p.global_id or p.transaction_id, p.database, exc.detail)
        crash_point(f"rolled-back:{number}")
