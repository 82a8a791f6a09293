"""`mode = "copy"` on real servers (docs/reference.md §12): the design document's nightly archive
job PostgreSQL -> MariaDB, and each guarantee of the contract: every matching row past the mark,
rows sharing a cursor value across batch boundaries, rows committed late by a long transaction,
and a second run that copies nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
from sync_world import BASE, MYSQL, PG, Orders, order, run

ARCHIVE = {
    "name": "archive_completed_orders",
    "source": PG,
    "target": MYSQL,
    "table": "orders",
    "key": ["id"],
    "cursor": "created_at",
    "where": '{ status = { _eq = "completed" }, created_at = { _lt = "now-30d" } }',
    "mode": "copy",
    "schedule": "0 2 * * *",
    "batch_size": 1000,
}


def _summary(output: str) -> tuple[int, int]:
    match = re.search(r"(\d+) rows copied, (\d+) rows deleted", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


async def test_the_nightly_archive_copies_completed_orders_older_than_30_days(orders: Orders) -> None:
    old = [order(n) for n in range(1, 51)]
    pending = [order(n, status="pending") for n in range(51, 61)]
    recent = [order(n, at=BASE + timedelta(days=35, seconds=n)) for n in range(61, 71)]  # 5 days old
    await orders.insert(old + pending + recent)
    config = orders.config(ARCHIVE)

    code, output = await run(config)

    assert code == 0, output
    assert _summary(output) == (50, 0)
    assert await orders.target_rows() == (await orders.source_rows())[:50]
    state = await orders.state("archive_completed_orders")
    assert state["rows_copied"] == 50 and state["last_error"] is None
    assert state["high_water"][1] == 50
    line = output.strip()
    assert line.startswith("sync archive_completed_orders: 50 rows copied, 0 rows deleted in ")
    assert line.endswith(f' s, high-water mark ["{state["high_water"][0]}",50]')


async def test_a_second_run_right_after_copies_nothing(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 31)])
    config = orders.config({**ARCHIVE, "batch_size": 7})
    assert _summary((await run(config))[1]) == (30, 0)

    code, output = await run(config)

    assert code == 0
    assert _summary(output) == (0, 0)
    assert len(await orders.target_rows()) == 30
    assert (await orders.state("archive_completed_orders"))["rows_copied"] == 30


async def test_rows_sharing_a_cursor_value_across_batch_boundaries_are_all_copied(orders: Orders) -> None:
    same = BASE + timedelta(seconds=5)
    rows = [order(n) for n in range(1, 5)] + [order(n, at=same) for n in range(5, 30)] + [order(30)]
    await orders.insert(rows)
    config = orders.config({**ARCHIVE, "batch_size": 4})  # 25 rows share one created_at

    code, output = await run(config)

    assert code == 0
    assert _summary(output) == (30, 0)
    assert await orders.target_rows() == await orders.source_rows()


async def test_a_row_committed_late_by_a_long_transaction_is_copied_by_the_next_run(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 11)])
    config = orders.config({**ARCHIVE, "safety_margin": 3600})
    late = await asyncpg.connect(
        host=orders.pg_info.host, port=orders.pg_info.port, user=orders.pg_info.user, database=orders.pg_info.database
    )
    try:
        transaction = late.transaction()
        await transaction.start()
        # Its cursor value (BASE + 3 s) is behind rows 4..10, which commit and are copied first.
        await late.execute(
            "INSERT INTO orders (id, customer_id, status, total, created_at, note) VALUES ($1, $2, $3, $4, $5, $6)",
            *order(100, at=BASE + timedelta(seconds=3)),
        )
        assert _summary((await run(config))[1]) == (10, 0)
        assert (await orders.state("archive_completed_orders"))["high_water"][1] == 10  # the mark passed it
        await transaction.commit()
    finally:
        await late.close()

    code, output = await run(config)

    assert code == 0
    assert _summary(output) == (1, 0)
    assert await orders.target_rows() == await orders.source_rows()
    assert _summary((await run(config))[1]) == (0, 0)


async def test_a_row_changed_behind_the_mark_within_the_margin_is_copied_again(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 6)])
    config = orders.config({**ARCHIVE, "safety_margin": 60})
    await run(config)
    await orders.pg.execute("UPDATE orders SET note = 'changed' WHERE id = 2")

    assert _summary((await run(config))[1]) == (1, 0)
    assert await orders.target_rows() == await orders.source_rows()


async def test_a_job_without_a_cursor_copies_what_differs_every_run(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 21)])
    job = {k: v for k, v in ARCHIVE.items() if k not in ("cursor", "where")} | {"batch_size": 6}
    config = orders.config(job)
    assert _summary((await run(config))[1]) == (20, 0)
    await orders.pg.execute("UPDATE orders SET status = 'refunded' WHERE id IN (3, 17)")

    assert _summary((await run(config))[1]) == (2, 0)
    assert await orders.target_rows() == await orders.source_rows()
    assert _summary((await run(config))[1]) == (0, 0)
    assert (await orders.state("archive_completed_orders"))["high_water"] is None


async def test_where_combines_or_not_in_and_like_as_in_graphql(orders: Orders) -> None:
    rows = [order(n, status="completed" if n % 2 else "pending", note="skip" if n == 3 else None) for n in range(1, 13)]
    await orders.insert(rows)
    where = (
        '{ _or = [{ status = { _eq = "completed" } }, { customer_id = { _in = [2, 4] } }],'
        ' _not = { note = { _like = "skip%" } }, created_at = { _gte = "today-3650d" } }'
    )
    config = orders.config({**ARCHIVE, "where": where})

    code, output = await run(config)

    assert code == 0, output
    # odd ids (completed) but 3 (skipped), and even ids whose customer_id (n % 7) is 2 or 4
    assert [r[0] for r in await orders.target_rows()] == [1, 2, 4, 5, 7, 9, 11]
