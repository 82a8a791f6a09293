"""Two-phase commit of an operation that wrote several databases (docs/reference.md §10).

Without a SQLite participant:

    1. Prepare every participant (PostgreSQL PREPARE TRANSACTION, MySQL XA PREPARE).
    2. Decide: insert the transaction's row with decision 'commit' into the coordinator log (its
       own committed write): from here on the transaction is committed, whatever crashes.
    3. Commit every participant by global id; then mark the row finished.

With one SQLite participant (it cannot prepare), it is the last resource and its local commit is
the decision:

    1. Insert the log row with decision 'pending' and decided_in = the SQLite database (so
       recovery knows where the decision is), before anything is prepared.
    2. Prepare every PostgreSQL and MySQL participant.
    3. Decide: in the SQLite participant's own open transaction, insert ('commit') into its
       `dbmesh_decisions`, then commit that transaction. Its writes and the decision are one local
       commit, so there is no moment when the SQLite writes are applied without a commit decision
       or the other way round.
    4. Copy the decision into the log row, commit every participant, mark the row finished, and
       delete the SQLite decision row (the log keeps the decision).

A failure before the decision rolls everything back (presumed abort: a prepared transaction
without a commit decision is rolled back, by recovery if not here). The decision is a
compare-and-set: recovery that finds a dead owner's transaction undecided first inserts 'abort'
(in the log, or in the SQLite participant's `dbmesh_decisions`), so a late owner's 'commit'
fails and it rolls back (TRANSACTION_ABORTED). When the decision's own write fails without saying
whether it happened, the outcome is settled the same way before answering. After the decision, a
participant that cannot be committed now is left to recovery: the operation is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbmesh.coordinator._faults import crash_point
from dbmesh.coordinator.errors import TransactionAborted
from dbmesh.coordinator.log import ABORT, COMMIT, PENDING, DecisionLog
from dbmesh.coordinator.log import Participant as Logged
from dbmesh.coordinator.transaction import Participant, rollback_all
from dbmesh.resolver.client import CallError

if TYPE_CHECKING:
    from dbmesh.coordinator.coordinator import Coordinator

__all__ = ["commit_all"]

log = logging.getLogger("dbmesh.coordinator")


def _unknown_outcome(database: str, transaction_id: str) -> CallError:
    return CallError(
        database,
        "DATABASE_UNAVAILABLE",
        f"database {database!r} is unavailable: the outcome of transaction {transaction_id} is"
        " decided by recovery when it is back (wholly applied or wholly rolled back)",
        unavailable=True,
    )


async def commit_all(coordinator: Coordinator, transaction_id: str, participants: Sequence[Participant]) -> None:
    decision_log = coordinator.log
    if decision_log is None:
        await rollback_all(participants)
        raise TransactionAborted(
            "this operation writes several databases, which needs a coordinator log: set"
            " [transactions] log_database (no PostgreSQL database to default to)"
        )
    sqlite = next((p for p in participants if not p.global_id), None)
    preparing = [p for p in participants if p.global_id]
    logged = tuple(Logged(p.database, p.global_id) for p in participants)
    coordinator.active.add(transaction_id)
    try:
        try:
            await coordinator.join_log()
            if sqlite is not None:
                await decision_log.decide(transaction_id, PENDING, coordinator.owner, logged, sqlite.database)
        except CallError:
            await rollback_all(participants)
            raise
        await _prepare(preparing, participants)
        if sqlite is None:
            await _decide_in_log(coordinator, decision_log, transaction_id, logged, participants)
        else:
            await _decide_in_sqlite(coordinator, transaction_id, sqlite, participants)
        crash_point("decided")
        await _commit_prepared(coordinator, decision_log, transaction_id, preparing, sqlite)
    finally:
        coordinator.active.discard(transaction_id)


async def _prepare(preparing: Sequence[Participant], everyone: Sequence[Participant]) -> None:
    for number, p in enumerate(preparing, 1):
        try:
            await p.client.prepare(p.transaction_id)
        except CallError:
            p.transaction_id = ""  # the resolver rolled it back when its Prepare failed
            crash_point("aborting")
            await rollback_all(everyone)
            raise
        p.prepared = True
        p.transaction_id = ""
        crash_point(f"prepared:{number}")


async def _decide_in_log(
    coordinator: Coordinator,
    decision_log: DecisionLog,
    transaction_id: str,
    logged: tuple[Logged, ...],
    participants: Sequence[Participant],
) -> None:
    try:
        committed = await decision_log.decide(transaction_id, COMMIT, coordinator.owner, logged)
    except CallError:
        committed = await _settle(coordinator, decision_log, transaction_id)
    if not committed:
        await rollback_all(participants)
        raise TransactionAborted(f"transaction {transaction_id} was rolled back by recovery before it could commit")


async def _settle(coordinator: Coordinator, decision_log: DecisionLog, transaction_id: str) -> bool:
    """The decision write failed without saying whether it happened: read it back, or decide
    'abort' first. True: it is committed."""
    try:
        if await decision_log.decide(transaction_id, ABORT, coordinator.owner):
            return False
        entry = await decision_log.get(transaction_id)
    except CallError:
        raise _unknown_outcome(decision_log.database, transaction_id) from None
    return entry is not None and entry.decision == COMMIT


async def _decide_in_sqlite(
    coordinator: Coordinator, transaction_id: str, sqlite: Participant, participants: Sequence[Participant]
) -> None:
    decisions = coordinator.decisions(sqlite.database)
    try:
        await decisions.ensure(sqlite.transaction_id)
        recorded = await sqlite.client.insert_new(decisions.record(transaction_id, COMMIT, sqlite.transaction_id))
    except CallError:
        await rollback_all(participants)
        raise
    if not recorded:
        await rollback_all(participants)
        raise TransactionAborted(f"transaction {transaction_id} was rolled back by recovery before it could commit")
    local = sqlite.transaction_id
    sqlite.transaction_id = ""
    try:
        await sqlite.client.commit(local)
    except CallError as exc:
        # Committed or not? Recovery's fence answers it: 'abort' goes in only if 'commit' did not.
        try:
            aborted = await decisions.abort_first(transaction_id)
            committed = not aborted and await decisions.get(transaction_id) == COMMIT
        except CallError:
            raise _unknown_outcome(sqlite.database, transaction_id) from None
        if not committed:
            await rollback_all(participants)
            raise exc from None


async def _commit_prepared(
    coordinator: Coordinator,
    decision_log: DecisionLog,
    transaction_id: str,
    preparing: Sequence[Participant],
    sqlite: Participant | None,
) -> None:
    complete = True
    if sqlite is not None:
        try:
            await decision_log.settle_pending(transaction_id, COMMIT)
        except CallError as exc:
            complete = False
            log.warning("transaction %s: recording its commit in the log failed: %s", transaction_id, exc.detail)
    for number, p in enumerate(preparing, 1):
        try:
            if not await p.client.finish_prepared(p.global_id, commit=True):
                log.info("transaction %s: %s on %s was committed already", transaction_id, p.global_id, p.database)
        except CallError as exc:
            complete = False
            log.warning(
                "transaction %s is committed; %s on %s is left to recovery: %s",
                transaction_id,
                p.global_id,
                p.database,
                exc.detail,
            )
        crash_point(f"committed:{number}")
    if not complete:
        return
    try:
        await decision_log.finish(transaction_id)
        if sqlite is not None:
            await coordinator.decisions(sqlite.database).forget(transaction_id)
    except CallError as exc:
        log.warning("transaction %s: marking it finished failed: %s", transaction_id, exc.detail)
