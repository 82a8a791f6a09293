"""The sync benchmark (`python -m bench.sync`): throughput of a `[[sync]]` copy job PostgreSQL ->
MariaDB (docs/reference.md §12), in rows per second; prints a Markdown report (and writes it to
bench/results/sync-latest.md).

Setup: throwaway PostgreSQL and MariaDB servers (bench/servers.py); `--rows` orders (the archive
job's table: bigint key, int, text, numeric, timestamptz, text) loaded into PostgreSQL with COPY;
an empty `orders` in MariaDB. The job runs through `dbmesh.commands.sync_run`, the code of `dbmesh
sync run` (its resolvers in this process, as the command starts them for a config without
`resolver` addresses), once per batch size: a full copy into an emptied target, then a second
run right after (which copies nothing: it re-reads the safety-margin window behind the mark).
The copy is checked afterwards: the target's row count and a checksum of every column equal the
source's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiomysql
import asyncpg
from harness.config import config_toml, server_settings

from bench.report import run_report
from bench.servers import BenchMariaDB, BenchPostgres, DatabaseInfo
from dbmesh import commands
from dbmesh.config import load_config
from dbmesh.supervisor import Supervisor

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "sync-latest.md"

PG_DDL = (
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer NOT NULL, status text NOT NULL,"
    " total numeric(10,2) NOT NULL, created_at timestamptz NOT NULL, note text)"
)
MARIA_DDL = (
    "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(32) NOT NULL,"
    " total DECIMAL(10,2) NOT NULL, created_at DATETIME(6) NOT NULL, note TEXT)"
)
CHECKSUM = "SELECT COUNT(*), SUM(id), SUM(customer_id), SUM(total), SUM(LENGTH(status)), SUM(LENGTH(note)) FROM orders"


async def _seed(pg: DatabaseInfo, rows: int) -> None:
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database)
    try:
        await conn.execute(PG_DDL)
        start = datetime(2024, 1, 1, tzinfo=UTC)
        records = [
            (n, n % 5000, "completed", Decimal(f"{n % 1000}.25"), start + timedelta(seconds=n // 3), f"order {n}")
            for n in range(1, rows + 1)
        ]
        await conn.copy_records_to_table("orders", records=records)
        # The index a cursor job wants: each batch is one range scan of (cursor, key).
        await conn.execute("CREATE INDEX orders_created_at_id ON orders (created_at, id)")
        await conn.execute("ANALYZE orders")
    finally:
        await conn.close()


async def _maria(maria: DatabaseInfo, sql: str) -> list[tuple[object, ...]]:
    conn = await aiomysql.connect(host=maria.host, port=maria.port, user=maria.user, db=maria.database)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            result = list(await cur.fetchall())
        await conn.commit()
        return result
    finally:
        conn.close()


async def _pg_checksum(pg: DatabaseInfo) -> tuple[object, ...]:
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database)
    try:
        return tuple(await conn.fetchrow(CHECKSUM))
    finally:
        await conn.close()


def _config(
    path: Path, pg: DatabaseInfo, maria: DatabaseInfo, batch_size: int, addresses: dict[str, str] | None = None
) -> None:
    databases = {"postgres_primary": server_settings(pg), "mysql_historical": server_settings(maria)}
    for name, address in (addresses or {}).items():
        databases[name]["resolver"] = address
    text = config_toml(databases)
    text += (
        '\n[[sync]]\nname = "archive"\nsource = "postgres_primary"\ntarget = "mysql_historical"\n'
        f'table = "orders"\ncursor = "created_at"\nbatch_size = {batch_size}\n'
    )
    path.write_text(text, encoding="utf-8")


async def _timed_run(config: Path) -> tuple[float, float, str]:
    """Seconds, CPU seconds of this process (the command and its resolvers: what a busy machine
    changes least) and the summary line of one `dbmesh sync run`."""
    out = io.StringIO()
    started, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out):
        code = await commands.sync_run(str(config), [])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if code != 0:
        raise SystemExit(f"sync run failed: {out.getvalue()}")
    return elapsed, cpu, out.getvalue().strip()


async def run(args: argparse.Namespace) -> str:
    pg_server, maria_server = BenchPostgres(), BenchMariaDB()
    with ThreadPoolExecutor(2) as pool:
        for started in [pool.submit(pg_server.start), pool.submit(maria_server.start)]:
            started.result()
    results = []
    try:
        pg, maria = pg_server.info(), maria_server.info()
        await _seed(pg, args.rows)
        await _maria(maria, MARIA_DDL)
        source = await _pg_checksum(pg)
        with tempfile.TemporaryDirectory(prefix="dbmesh-bench-sync-") as tmp:
            config = Path(tmp) / "dbmesh.toml"
            supervisor = None
            addresses: dict[str, str] | None = None
            if args.resolver_processes:  # `dbmesh up`'s resolver processes, at the config's `resolver` keys
                _config(config, pg, maria, 1)
                supervisor = Supervisor(str(config), load_config(config))
                addresses = await supervisor.start()
            try:
                for batch_size in args.batch_sizes:
                    await _maria(maria, "DELETE FROM orders")
                    with contextlib.suppress(Exception):
                        await _maria(maria, "DELETE FROM dbmesh_sync_state")
                    _config(config, pg, maria, batch_size, addresses)
                    copy_secs, copy_cpu, line = await _timed_run(config)
                    again_secs, _, again = await _timed_run(config)
                    target = tuple((await _maria(maria, CHECKSUM))[0])
                    if [Decimal(str(v)) for v in target] != [Decimal(str(v)) for v in source]:
                        raise SystemExit(f"target differs from source: {target} != {source}")
                    results.append((batch_size, copy_secs, copy_cpu, line, again_secs, again, os.getloadavg()[0]))
            finally:
                if supervisor is not None:
                    await supervisor.stop()
    finally:
        pg_server.cleanup()
        maria_server.cleanup()
    return _report(args, results)


def _report(args: argparse.Namespace, results: list[tuple[int, float, float, str, float, str, float]]) -> str:
    lines = [
        '# Sync throughput: PostgreSQL -> MariaDB (`mode = "copy"`)',
        "",
        f"`python -m bench.sync --rows {args.rows} --batch-sizes {' '.join(map(str, args.batch_sizes))}`,"
        f" {datetime.now(UTC).date()}; {args.rows:,} rows; target checked equal to the source after each copy"
        " (count and per-column sums). Seconds include starting the command's two resolvers; CPU is"
        " this process's (the command and its resolvers, which run in it), load the machine's 1-minute"
        f" load average after each copy ({os.cpu_count()} cores).",
        "",
        "| batch_size | full copy | rows/s | CPU s | rows per CPU s | second run (copies nothing) | load |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch_size, copy_secs, cpu, _, again_secs, _, load in results:
        lines.append(
            f"| {batch_size} | {copy_secs:.2f} s | {args.rows / copy_secs:,.0f} | {cpu:.2f} | {args.rows / cpu:,.0f}"
            f" | {again_secs:.2f} s | {load:.1f} |"
        )
    lines += ["", "Summary lines of the last batch size:", "", "```"]
    lines += [results[-1][3], results[-1][5], "```", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="orders to copy (default 200000)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1000, 5000], help="default: 1000 5000")
    parser.add_argument(
        "--resolver-processes",
        action="store_true",
        help="resolvers as processes of their own (as `dbmesh up` starts them) instead of in the command",
    )
    return run_report(parser, run, RESULTS)


if __name__ == "__main__":
    raise SystemExit(main())
