"""CPU per statement of the two asyncio MariaDB drivers, aiomysql (PyMySQL's pure-Python packet
parsing) and asyncmy (Cython), side by side in one process (docs/reference.md §8).

`python -m bench.mysql_driver [--host H] [--port P] [--user U] [--database D] [--rounds N]
[--statements N]` runs the MariaDB resolver's own statements on the peer benchmark's data
(`../shared/peer-bench`, `servers.sh start` and `benchdata.py` loaded: 127.0.0.1:53307,
`bench_historical`) through each driver, in the way services/engines/mysql.py runs them: one
connection, a cursor per statement, parameters escaped by the client into `%(pN)s` placeholders,
every row fetched. The drivers take turns within every round (aiomysql then asyncmy, then the other
way round), so a busy machine weighs on both alike; per round and statement it prints the CPU
time of this process (user + system, `time.process_time`) per statement, and at the end the
median and the spread (min-max) of each driver and their ratio. Wall time is not reported: the
server's share and the machine's load are in it.

The statements (ids from the data): the Nested scenario's two MariaDB fetches (the orders of a
customer who has 10, the items of those orders, about 30 rows) and the Batch scenario's one
(the orders of 100 customers, about 1,000 rows).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiomysql
import asyncmy
import uvloop

__all__ = ["main"]

Run = Callable[[str, dict[str, Any]], Awaitable[list[Any]]]

_ORDERS = (
    "SELECT `t0`.`id`, `t0`.`total_amount`, `t0`.`customer_id` FROM `orders` AS `t0`"
    " WHERE `t0`.`customer_id` IN ({keys}) ORDER BY `t0`.`customer_id`, `t0`.`id`"
)
_ITEMS = (
    "SELECT `t0`.`product_id`, `t0`.`quantity`, `t0`.`price`, `t0`.`order_id` FROM `order_items` AS `t0`"
    " WHERE `t0`.`order_id` IN ({keys}) ORDER BY `t0`.`order_id`, `t0`.`product_id`"
)


def _statement(template: str, keys: Sequence[str]) -> tuple[str, dict[str, Any]]:
    placeholders = ", ".join(f"%(p{i})s" for i in range(1, len(keys) + 1))
    return template.format(keys=placeholders), {f"p{i}": key for i, key in enumerate(keys, 1)}


async def _aiomysql(args: argparse.Namespace) -> tuple[Run, Callable[[], None]]:
    conn = await aiomysql.connect(
        host=args.host, port=args.port, user=args.user, password=args.password, db=args.database, autocommit=True
    )

    async def run(sql: str, params: dict[str, Any]) -> list[Any]:
        cursor = await conn.cursor()
        await cursor.execute(sql, params)
        return list(await cursor.fetchall())

    return run, conn.close


async def _asyncmy(args: argparse.Namespace) -> tuple[Run, Callable[[], None]]:
    conn = await asyncmy.connect(
        host=args.host, port=args.port, user=args.user, password=args.password, database=args.database, autocommit=True
    )

    async def run(sql: str, params: dict[str, Any]) -> list[Any]:
        cursor = conn.cursor()
        await cursor.execute(sql, params)
        return list(await cursor.fetchall())

    return run, conn.close


async def _statements(run: Run) -> dict[str, tuple[str, dict[str, Any]]]:
    """The three statements, with keys read from the data (the same for both drivers)."""
    customers = [r[0] for r in await run("SELECT DISTINCT customer_id FROM orders ORDER BY customer_id LIMIT 100", {})]
    ten = "SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) = 10 ORDER BY customer_id LIMIT 1"
    one = (await run(ten, {}))[0][0]
    orders = [r[0] for r in await run("SELECT id FROM orders WHERE customer_id = %(p1)s ORDER BY id", {"p1": one})]
    return {
        "orders of 1 customer": _statement(_ORDERS, [one]),
        "items of its orders": _statement(_ITEMS, orders),
        "orders of 100 customers": _statement(_ORDERS, customers),
    }


async def _cpu_per_statement(run: Run, sql: str, params: dict[str, Any], count: int) -> tuple[float, int]:
    rows = len(await run(sql, params))  # warm
    start = time.process_time()
    for _ in range(count):
        await run(sql, params)
    return (time.process_time() - start) / count, rows


async def _main(args: argparse.Namespace) -> int:
    drivers = {"aiomysql": await _aiomysql(args), "asyncmy": await _asyncmy(args)}
    try:
        statements = await _statements(drivers["aiomysql"][0])
        first = await _statements(drivers["asyncmy"][0])
        assert first == statements, "the drivers read different keys"
        samples: dict[tuple[str, str], list[float]] = {}
        print(f"{'round':>5} {'statement':26} {'rows':>5} " + " ".join(f"{d + ' µs':>12}" for d in drivers))
        for round_ in range(args.rounds):
            order = list(drivers) if round_ % 2 == 0 else list(reversed(drivers))
            for name, (sql, params) in statements.items():
                cells: dict[str, float] = {}
                rows = 0
                for driver in order:
                    count = args.statements if "100" not in name else max(1, args.statements // 10)
                    cells[driver], rows = await _cpu_per_statement(drivers[driver][0], sql, params, count)
                    samples.setdefault((name, driver), []).append(cells[driver])
                line = " ".join(f"{cells[d] * 1e6:12.0f}" for d in drivers)
                print(f"{round_ + 1:5} {name:26} {rows:5} {line}", flush=True)
        print("\nmedian CPU µs per statement (min-max over rounds), asyncmy / aiomysql")
        for name in statements:
            old, new = samples[(name, "aiomysql")], samples[(name, "asyncmy")]
            ratios = [n / o for n, o in zip(new, old, strict=True)]
            print(
                f"  {name:26} aiomysql {statistics.median(old) * 1e6:7.0f} ({min(old) * 1e6:.0f}-{max(old) * 1e6:.0f})"
                f"  asyncmy {statistics.median(new) * 1e6:7.0f} ({min(new) * 1e6:.0f}-{max(new) * 1e6:.0f})"
                f"  ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            )
    finally:
        for _, close in drivers.values():
            close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mysql_driver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=53307)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--database", default="bench_historical")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--statements", type=int, default=400, help="per driver and round (Batch's: a tenth)")
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # the resolvers' loop (dbmesh/cli.py)
        return runner.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
