"""Recovery (docs/reference.md §10) with several coordinators: a live coordinator's transaction
is left to it, a dead one's is resolved once its lease runs out, routers recovering at once never
undo each other, a late owner loses to recovery's decision; and `dbmesh transactions`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from bank import MY, OPENING, PG, transfer
from conftest import REPO, World

from dbmesh.coordinator import TransactionAborted
from dbmesh.coordinator.recovery import SETTLED


async def _killed_at(world: World, point: str) -> None:
    code, out, err = await world.run_driver(1, 2, crash_at=point)
    assert code == -signal.SIGKILL, out + err


async def _absent(world: World) -> None:
    state = await world.bank.state()
    assert (state["pg_ids"], state["my_ids"], state["prepared"]) == (set(), set(), [])
    assert (state["pg_balance"], state["my_balance"]) == (OPENING, OPENING)


async def test_a_live_coordinators_transaction_is_left_until_its_lease_runs_out(world: World) -> None:
    await _killed_at(world, "prepared:2")
    other = await world.coordinator(start=False)
    [first, second] = await other.in_doubt()
    assert (first.database, second.database) == (PG, MY)
    assert first.owner_alive and first.decision == "none" and first.global_id.startswith("dbmesh.")
    left = await other.recover()
    assert [r.action for r in left] == [f"left: its coordinator {first.owner} is alive"] * 2
    assert len(await world.bank.prepared()) == 2
    await asyncio.sleep(1.6)  # lease_secs = 1.5
    assert [r.action for r in await other.recover()] == ["rolled back", "rolled back"]
    await _absent(world)
    [entry] = await other.history()
    assert (entry.transaction_id, entry.decision) == (first.transaction_id, "abort")


async def test_routers_recovering_at_once_agree(world: World) -> None:
    await _killed_at(world, "prepared:2")
    await asyncio.sleep(1.6)
    routers = [await world.coordinator(start=False) for _ in range(3)]
    results = await asyncio.gather(*(r.recover() for r in routers))
    actions = [r.action for found in results for r in found]
    assert set(actions) <= set(SETTLED) - {"committed", "already committed"}
    assert actions.count("rolled back") == 2  # each participant rolled back exactly once
    await _absent(world)


async def test_a_decided_transaction_is_committed_by_recovery(world: World) -> None:
    await _killed_at(world, "decided")
    other = await world.coordinator(start=False)
    assert [d.decision for d in await other.in_doubt()] == ["commit", "commit"]
    await asyncio.sleep(1.6)  # a live owner finishes its own
    assert [r.action for r in await other.recover()] == ["committed", "committed"]
    state = await world.bank.state()
    assert (state["pg_ids"], state["my_ids"], state["prepared"]) == ({1}, {1}, [])
    [entry] = await other.history()
    assert entry.decision == "commit" and entry.finished_at is not None


async def test_an_owner_that_decides_after_recovery_aborted_it_is_aborted(world: World) -> None:
    owner = await world.coordinator()
    tx = owner.begin()
    await transfer(tx, 1, 5)
    recovery = await world.coordinator(start=False)
    assert recovery.log is not None
    assert await recovery.log.decide(tx.id, "abort", owner.owner)  # what recovery does first
    try:
        await tx.commit()
    except TransactionAborted as exc:
        aborted = exc
    assert aborted.message == f"transaction {tx.id} was rolled back by recovery before it could commit"
    await _absent(world)


def _cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "dbmesh", "transactions", "-c", str(world.config_path), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


async def test_dbmesh_transactions_lists_and_recovers(world: World) -> None:
    owner = await world.coordinator()  # alive: its heartbeat is renewed every 0.3 s
    tx = owner.begin()
    await transfer(tx, 1, 5)
    await owner.join_log()
    owner.active.add(tx.id)
    for participant in tx.participants:  # prepared, undecided: in doubt while it lives
        await participant.client.prepare(participant.transaction_id)
    listed = await asyncio.to_thread(_cli, world)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines == [
        f"in doubt: dbmesh.{tx.id}.1 on bank_pg (transaction {tx.id}, decision none, coordinator {owner.owner} alive)",
        f"in doubt: dbmesh.{tx.id}.2 on bank_my (transaction {tx.id}, decision none, coordinator {owner.owner} alive)",
    ]
    early = await asyncio.to_thread(_cli, world, "--recover")
    assert early.returncode == 3
    assert early.stdout.splitlines() == [
        f"left: its coordinator {owner.owner} is alive: dbmesh.{tx.id}.{n} on {db} (transaction {tx.id})"
        for n, db in ((1, PG), (2, MY))
    ]
    owner.active.discard(tx.id)
    await owner.stop()  # gone: its heartbeat row is deleted
    recovered = await asyncio.to_thread(_cli, world, "--recover")
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.splitlines() == [
        f"rolled back: dbmesh.{tx.id}.{n} on {db} (transaction {tx.id})" for n, db in ((1, PG), (2, MY))
    ]
    after = await asyncio.to_thread(_cli, world)
    assert after.stdout.splitlines() == ["no transactions in doubt", f"abort: transaction {tx.id} (finished; -)"]
    await _absent(world)


async def test_dbmesh_transactions_with_a_resolver_down_is_one_line(world: World) -> None:
    await world.servers[PG].stop(None)
    result = await asyncio.to_thread(_cli, world)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "dbmesh: error: database 'bank_pg' is unavailable: its resolver cannot be reached"
    ]
