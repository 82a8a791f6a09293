"""`mode = "move"` on real servers (docs/reference.md §12): a row leaves the PostgreSQL source only
in the two-phase commit that makes it durable in the MariaDB target. A real `dbmesh sync run`
process is SIGKILLed at each point of a batch's commit (the sync job's own fault points and the
coordinator's: prepared, decided, committed). A row is never in both databases, even while a
batch is in doubt (the source's delete commits first); after the next run, which resolves the
killed run's in-doubt transaction (recovery, docs/reference.md §10) before moving the rest, each
row is in exactly one: the target. Killed between the two commits of a batch, its rows read as in
neither until recovery commits the target's prepared insert (two-phase commit's window)."""

from __future__ import annotations

import re
import signal
from datetime import timedelta

import pytest
from sync_world import BASE, MYSQL, PG, Orders, cli, order, run

MOVE = {
    "name": "archive_completed_orders",
    "source": PG,
    "target": MYSQL,
    "table": "orders",
    "cursor": "created_at",
    "where": '{ status = { _eq = "completed" }, created_at = { _lt = "now-30d" } }',
    "mode": "move",
    "batch_size": 10,
}


async def _placement(orders: Orders) -> tuple[set[int], set[int]]:
    source = {r[0] for r in await orders.source_rows()}
    target = {r[0] for r in await orders.target_rows()}
    return source, target


async def test_move_deletes_from_the_source_what_it_copies_to_the_target(orders: Orders) -> None:
    moved = [order(n) for n in range(1, 26)]
    kept = [order(n, status="pending") for n in range(26, 31)] + [
        order(n, at=BASE + timedelta(days=35)) for n in range(31, 34)
    ]
    await orders.insert(moved + kept)
    originals = await orders.source_rows()
    config = orders.config(MOVE)

    code, output = await run(config)

    assert code == 0, output
    assert re.match(r"sync archive_completed_orders: 25 rows copied, 25 rows deleted in ", output), output
    assert await orders.target_rows() == originals[:25]
    assert await orders.source_rows() == originals[25:]
    state = await orders.state("archive_completed_orders")
    assert (state["rows_copied"], state["rows_deleted"]) == (25, 25)
    assert (await run(config))[1].startswith("sync archive_completed_orders: 0 rows copied, 0 rows deleted")
    prepared = await orders.pg.fetch("SELECT gid FROM pg_prepared_xacts")
    assert prepared == []


@pytest.mark.parametrize(
    "point",
    ["sync:deleted", "sync:state-written", "prepared:1", "prepared:2", "decided", "committed:1", "sync:committed"],
)
async def test_a_move_killed_at_any_point_leaves_each_row_in_exactly_one_database(orders: Orders, point: str) -> None:
    await orders.insert([order(n) for n in range(1, 41)])
    originals = await orders.source_rows()
    everything = {r[0] for r in originals}
    config = str(orders.config(MOVE))

    killed = cli("sync", "run", "-c", config, env={"DBMESH_TEST_CRASH_AT": f"{point}#2"})

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    source, target = await _placement(orders)
    assert not source & target  # never in both, even before recovery (the source commits first)
    if point != "committed:1":  # killed between the two commits: the batch's insert is still prepared
        assert source | target == everything
    # The first batch; the second too when killed after its commit, otherwise not yet visible.
    assert len(target) == (20 if point == "sync:committed" else 10)

    done = cli("sync", "run", "-c", config)

    assert done.returncode == 0, done.stderr
    source, target = await _placement(orders)
    assert (source, target) == (set(), everything)
    assert await orders.target_rows() == originals
    assert await orders.pg.fetch("SELECT gid FROM pg_prepared_xacts") == []
    assert await orders.mysql.fetch("XA RECOVER") == []
    state = await orders.state("archive_completed_orders")
    assert state["rows_copied"] == state["rows_deleted"] == 40
