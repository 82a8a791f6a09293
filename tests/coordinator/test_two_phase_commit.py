"""Operations that write several databases, through a coordinator in this process over real
resolvers (docs/reference.md §10): all applied or nothing, checked in the databases themselves."""

from __future__ import annotations

from bank import MY, OPENING, PG, SQ, transfer
from conftest import World

from dbmesh.coordinator import TransactionAborted
from dbmesh.resolver.client import CallError


async def test_transfer_between_postgresql_and_mariadb_commits_in_both(world: World) -> None:
    coordinator = await world.coordinator()
    tx = coordinator.begin()
    await transfer(tx, 1, 30, order=[PG, MY])
    await tx.commit()
    state = await world.bank.state()
    assert state == {
        "pg_ids": {1},
        "my_ids": {1},
        "pg_balance": OPENING - 30,
        "my_balance": OPENING + 30,
        "prepared": [],
        "sq_ids": set(),
    }
    [entry] = await coordinator.history()
    assert entry.transaction_id == tx.id and entry.decision == "commit" and entry.finished_at is not None
    assert [p.database for p in entry.participants] == [PG, MY]


async def test_sqlite_participant_commits_last_and_its_record_is_cleared(world: World) -> None:
    coordinator = await world.coordinator()
    tx = coordinator.begin()
    await transfer(tx, 5, 10, order=[PG, SQ, MY])
    await tx.commit()
    state = await world.bank.state()
    assert (state["pg_ids"], state["my_ids"], state["sq_ids"], state["prepared"]) == ({5}, {5}, {5}, [])
    assert world.bank.sq is not None
    assert await world.bank.sq.fetch("SELECT transaction_id FROM dbmesh_decisions") == []
    [entry] = await coordinator.history()
    assert (entry.decision, entry.decided_in) == ("commit", SQ)


async def test_a_failing_field_rolls_back_every_database(world: World) -> None:
    coordinator = await world.coordinator()
    tx = coordinator.begin()
    try:
        await transfer(tx, 2, 30, order=[PG, MY], fail="field")
    except CallError as exc:
        failed = exc
        await tx.rollback()
    assert failed.database == MY
    assert failed.code == "CONSTRAINT_VIOLATION"
    state = await world.bank.state()
    assert (state["pg_ids"], state["my_ids"], state["prepared"]) == (set(), set(), [])
    assert (state["pg_balance"], state["my_balance"]) == (OPENING, OPENING)


async def test_a_failing_prepare_rolls_back_the_prepared_participant(world: World) -> None:
    coordinator = await world.coordinator()
    tx = coordinator.begin()
    await transfer(tx, 3, 30, order=[MY, PG], fail="prepare")
    try:
        await tx.commit()
    except CallError as exc:
        failed = exc
    assert (failed.database, failed.code) == (PG, "CONSTRAINT_VIOLATION") and "guard_once" in failed.message
    state = await world.bank.state()
    assert (state["pg_ids"], state["my_ids"], state["prepared"]) == (set(), set(), [])
    assert await coordinator.history() == []  # aborted before any decision: presumed abort, nothing logged


async def test_two_sqlite_databases_are_refused_before_anything_is_written(world: World) -> None:
    coordinator = await world.coordinator()
    coordinator._engines["other_sq"] = "sqlite"
    try:
        coordinator.begin([SQ, PG, "other_sq"])
    except TransactionAborted as exc:
        refused = exc
    assert refused.code == "TRANSACTION_ABORTED"
    assert refused.message == (
        "one mutation operation can write at most one SQLite database (SQLite cannot prepare a transaction"
        " for two-phase commit); this one writes 'bank_sq' and 'other_sq'"
    )
