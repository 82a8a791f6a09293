"""The statements a copy batch costs on MariaDB (docs/reference.md §12), counted by the server
(its Com_* status counters): per batch, one read of the target's rows by key, one multi-row
upsert of those that differ and the job's state, whatever the number of rows that exist already
(bench/results/sync-latest.md has what this batching is worth)."""

from __future__ import annotations

from sync_world import MYSQL, PG, TRANSACTIONS, Orders, order, run

COUNTED = ("Com_select", "Com_insert", "Com_update", "Com_delete")


async def _counters(orders: Orders) -> dict[str, int]:
    rows = await orders.mysql.fetch(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Com_insert', 'Com_update', 'Com_delete')"
    )
    return {name: int(value) for name, value in rows}


async def _run_counted(orders: Orders, batch_size: int) -> dict[str, int]:
    config = orders.config(
        {"name": "copy", "source": PG, "target": MYSQL, "table": "orders", "cursor": "created_at"}
        | {"batch_size": batch_size},
        transactions={**TRANSACTIONS, "lease_secs": 600},  # no lease renewal during a run: no timer counted
    )
    before = await _counters(orders)
    code, output = await run(config)
    after = await _counters(orders)
    assert code == 0, output
    return {name: after[name] - before[name] for name in COUNTED}


async def _stale_target(orders: Orders, rows: list[tuple[object, ...]]) -> None:
    """The target holds the first half of `rows` with another note (each such row is upserted
    over an existing one), and no state (the next run copies from the start)."""
    await orders.mysql.execute("DELETE FROM orders")
    await orders.mysql.execute("DELETE FROM dbmesh_sync_state")
    half = rows[: len(rows) // 2]
    await orders.mysql.execute(
        "INSERT INTO orders (id, customer_id, status, total, created_at, note) VALUES "
        + ", ".join(["(%s, %s, %s, %s, %s, 'stale')"] * len(half)),
        [v for r in half for v in r[:5]],
    )


async def test_a_copy_batch_is_a_fixed_number_of_statements_on_mariadb(orders: Orders) -> None:
    rows = [order(n) for n in range(1, 61)]
    await orders.insert(rows)
    await _run_counted(orders, 60)  # the job's lease row and dbmesh's tables exist from now on

    counts: dict[int, dict[str, int]] = {}
    for batch_size in (20, 10):  # 3 batches, then 6
        await _stale_target(orders, rows)
        counts[batch_size] = await _run_counted(orders, batch_size)
        assert await orders.target_rows() == await orders.source_rows()
    for batch_size, batches in ((20, 3), (10, 6)):
        # Per batch: one upsert of the batch and the state row's write (an insert for the first
        # batch, an update after); beside them, the end of the run and taking and releasing the
        # lease update. Not one statement more for the 30 rows that existed already.
        assert counts[batch_size]["Com_insert"] == batches + 1
        assert counts[batch_size]["Com_update"] == (batches - 1) + 1 + 2
        assert counts[batch_size]["Com_delete"] == 0
    # Per batch, two reads: the target's rows of the batch's keys, and the state row locked by key.
    assert counts[10]["Com_select"] - counts[20]["Com_select"] == 2 * 3
