"""The write benchmark (`python -m bench.writes`): dbmesh's mutations against hand-written
baselines doing the same writes directly, and write-through staleness under load; prints a
Markdown report (and writes it to bench/results/writes-latest.md).

Setup: throwaway PostgreSQL and MariaDB servers (bench/servers.py), a SQLite file; dbmesh's
resolvers (`dbmesh.services.create_server`) and router (`dbmesh.router.Router.execute`, without
HTTP) run in this process, as does the baseline (asyncpg and aiomysql pools of the same size), so
both share one event loop and the numbers compare the work each does per write, not HTTP.

Scenarios, each `--ops` writes from `--concurrency` concurrent clients on random accounts:
- single: one account's balance + 1. dbmesh: `updateAccounts(where: {id}, inc: {balance: 1})`;
  baseline: `BEGIN; UPDATE accounts SET balance = balance + $1 WHERE id = $2; COMMIT`.
- transfer: PostgreSQL balance - 1 and a MariaDB ledger row, atomically. dbmesh: both fields in
  one mutation (two-phase commit with its coordinator log); baseline: PREPARE TRANSACTION on
  PostgreSQL and XA PREPARE on MariaDB, then COMMIT PREPARED and XA COMMIT (no log).
- staleness: `updateCustomers(set: {email})` written through to SQLite; for every write, the time
  from the router's answer until the new email is in the SQLite file (polled every millisecond),
  and the write's own latency. Measured in this process like the rest, twice side by side: as
  dbmesh runs (the router applies its own write to the cache before answering, SPEC §11) and with
  that inline apply off (`Outbox.inline_secs = 0`: the drainer alone, as before); and as deployed
  (`dbmesh up`: the router and each resolver in a process of its own, the writes sent over HTTP by
  this process), which is the figure SPEC §11's 100 ms bound is about.

Every dbmesh write sends one fixed document with variables, as a client would.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiomysql
import asyncpg
import httpx
from harness.config import config_toml, database_toml, server_settings

from bench.processes import Mesh
from bench.report import run_report
from bench.servers import BenchMariaDB, BenchPostgres, DatabaseInfo
from dbmesh.config import parse_config
from dbmesh.router import Router
from dbmesh.router.service import GraphQLRequest
from dbmesh.schema import load_schema
from dbmesh.services import RunningServer, create_server

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "writes_schema.py"
RESULTS = HERE / "results" / "writes-latest.md"
POOL = 10

PG_DDL = [
    "CREATE TABLE accounts (id integer PRIMARY KEY, balance numeric(14,2) NOT NULL)",
    "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL)",
]
MARIA_DDL = "CREATE TABLE entries (id char(36) PRIMARY KEY, account_id integer NOT NULL, amount decimal(14,2) NOT NULL)"
SQLITE_DDL = "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL)"

Op = Callable[[int, int], Awaitable[None]]

SINGLE = "mutation ($id: Int!) { updateAccounts(where: {id: {_eq: $id}}, inc: {balance: 1}) { affectedRows } }"
TRANSFER = (
    "mutation ($id: Int!, $entry: ID!) { updateAccounts(where: {id: {_eq: $id}}, inc: {balance: -1})"
    ' { affectedRows } insertEntries(objects: [{id: $entry, accountId: $id, amount: "1"}]) { affectedRows } }'
)
SET_EMAIL = (
    "mutation ($id: Int!, $email: String!) { updateCustomers(where: {id: {_eq: $id}}, set: {email: $email})"
    " { affectedRows } }"
)


def _percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p99 and max in ms, and (`at_once`) the share of samples that are 0, in %."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    at_once = 100 * sum(1 for x in ordered if x == 0) / len(ordered)
    return {"p50": at(0.5), "p99": at(0.99), "max": ordered[-1] * 1000, "at_once": at_once}


async def _drive(op: Op, ops: int, concurrency: int, accounts: int, seed: int) -> tuple[float, list[float]]:
    """Run `ops` calls of `op(n, account)` from `concurrency` workers; (writes/s, latencies)."""
    rng = random.Random(seed)
    plan = [(n, rng.randrange(accounts)) for n in range(ops)]
    latencies: list[float] = []
    queue = iter(plan)

    async def worker() -> None:
        for n, account in queue:
            start = time.perf_counter()
            await op(n, account)
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ops / (time.perf_counter() - began), latencies


class Bench:
    def __init__(self, pg: DatabaseInfo, maria: DatabaseInfo, sqlite_path: Path, accounts: int) -> None:
        self.pg, self.maria, self.sqlite_path, self.accounts = pg, maria, sqlite_path, accounts
        self.servers: dict[str, RunningServer] = {}
        self.router: Router | None = None
        self.pg_pool: asyncpg.Pool | None = None
        self.maria_pool: aiomysql.Pool | None = None

    async def start(self) -> None:
        databases = {
            "pg": {**server_settings(self.pg), "pool_size": POOL},
            "maria": {**server_settings(self.maria), "pool_size": POOL},
            "cache": {"engine": "sqlite", "path": str(self.sqlite_path)},
        }
        for name, settings in databases.items():
            base = parse_config(database_toml(name, settings)).databases[0]
            self.servers[name] = await create_server(base, "127.0.0.1:0")
        addressed = {n: {**s, "resolver": f"127.0.0.1:{self.servers[n].port}"} for n, s in databases.items()}
        config = parse_config(config_toml(addressed, {"max_limit": 1000}))
        self.router = Router(config, load_schema(SCHEMA, list(databases)))
        await self.router.start(check_schema=False)
        self.pg_pool = await asyncpg.create_pool(
            host=self.pg.host, port=self.pg.port, user=self.pg.user, database=self.pg.database, max_size=POOL
        )
        self.maria_pool = await aiomysql.create_pool(
            host=self.maria.host,
            port=self.maria.port,
            user=self.maria.user,
            password=self.maria.password,
            db=self.maria.database,
            maxsize=POOL,
            autocommit=True,
        )

    async def stop(self) -> None:
        if self.router is not None:
            await self.router.stop()
        for server in self.servers.values():
            await server.stop(grace=0)
        if self.pg_pool is not None:
            await self.pg_pool.close()
        if self.maria_pool is not None:
            self.maria_pool.close()
            await self.maria_pool.wait_closed()

    async def mesh(self, query: str, variables: dict[str, object]) -> None:
        assert self.router is not None
        _check((await self.router.execute(GraphQLRequest(query, variables=variables))).body)

    # --- scenarios ---------------------------------------------------------------------------------

    async def mesh_single(self, n: int, account: int) -> None:
        await self.mesh(SINGLE, {"id": account})

    async def baseline_single(self, n: int, account: int) -> None:
        assert self.pg_pool is not None
        async with self.pg_pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE accounts SET balance = balance + $1 WHERE id = $2", 1, account)

    async def mesh_transfer(self, n: int, account: int) -> None:
        await self.mesh(TRANSFER, {"id": account, "entry": str(uuid.uuid4())})

    async def baseline_transfer(self, n: int, account: int) -> None:
        assert self.pg_pool is not None and self.maria_pool is not None
        gid = f"bench-{uuid.uuid4().hex}"
        async with self.pg_pool.acquire() as pg, self.maria_pool.acquire() as maria, maria.cursor() as cur:
            await pg.execute("BEGIN")
            await pg.execute("UPDATE accounts SET balance = balance - $1 WHERE id = $2", 1, account)
            await cur.execute("XA START %s", (gid,))
            await cur.execute(
                "INSERT INTO entries (id, account_id, amount) VALUES (%s, %s, %s)", (str(uuid.uuid4()), account, 1)
            )
            await cur.execute("XA END %s", (gid,))
            await cur.execute("XA PREPARE %s", (gid,))
            await pg.execute(f"PREPARE TRANSACTION '{gid}'")
            await pg.execute(f"COMMIT PREPARED '{gid}'")
            await cur.execute("XA COMMIT %s", (gid,))

    async def staleness(self, ops: int, concurrency: int, seed: int, *, inline: bool) -> Staleness:
        """Write-through updates under load, in this process; without `inline`, the router leaves
        applying them to its drainer."""
        assert self.router is not None
        default = self.router.outbox.inline_secs
        self.router.outbox.inline_secs = default if inline else 0.0
        try:
            return await _staleness(self.sqlite_path, self.mesh, ops, concurrency, min(self.accounts, 100), seed)
        finally:
            self.router.outbox.inline_secs = default


def _check(body: dict[str, object]) -> None:
    errors = body.get("errors")
    if errors:
        raise RuntimeError(f"dbmesh answered an error: {errors}")


@dataclass(frozen=True)
class Staleness:
    """One staleness run: writes/s, seconds from each answer until its new email is in the SQLite
    file, and each write's own seconds."""

    rate: float
    stale: list[float]
    latency: list[float]


async def _staleness(
    sqlite_path: Path,
    send: Callable[[str, dict[str, object]], Awaitable[None]],
    ops: int,
    concurrency: int,
    accounts: int,
    seed: int,
) -> Staleness:
    """`ops` write-through updates sent with `send`, the new emails polled in the SQLite file every
    millisecond by a thread."""
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = asyncio.Event()

    def watch() -> None:
        conn = sqlite3.connect(sqlite_path)
        try:
            while not done.is_set() or len(seen) < len(acked):
                now = time.perf_counter()
                for (email,) in conn.execute("SELECT email FROM customers"):
                    seen.setdefault(email, now)
                time.sleep(0.001)
                if done.is_set() and time.perf_counter() - now > 30:
                    break
        finally:
            conn.close()

    async def write(n: int, account: int) -> None:
        email = f"c{account}-{n}-{seed}@example.com"
        await send(SET_EMAIL, {"id": account, "email": email})
        acked[email] = time.perf_counter()

    with ThreadPoolExecutor(1) as pool:
        watcher = asyncio.get_running_loop().run_in_executor(pool, watch)
        rate, latencies = await _drive(write, ops, concurrency, accounts, seed)
        done.set()
        await asyncio.wait_for(watcher, 60)
    # A row overwritten before the watcher saw it has no sample; every later value is one. A row
    # already in the cache when the answer arrived (the drainer was quicker than HTTP) counts 0.
    return Staleness(rate, [max(0.0, seen[e] - t) for e, t in acked.items() if e in seen], latencies)


async def staleness_deployed(
    pg: DatabaseInfo, maria: DatabaseInfo, sqlite_path: Path, work: Path, args: argparse.Namespace
) -> Staleness:
    """The staleness scenario against `dbmesh up` (router and resolvers in processes of their own)
    over HTTP."""
    databases = {
        "pg": {**server_settings(pg), "pool_size": POOL},
        "maria": {**server_settings(maria), "pool_size": POOL},
        "cache": {"engine": "sqlite", "path": str(sqlite_path)},
    }
    config = work / "writes.toml"
    config.write_text(config_toml(databases, {"max_limit": 1000}))
    mesh = Mesh(config, SCHEMA, work / "mesh.log")
    mesh.start()
    try:
        mesh.wait_ready()
        async with httpx.AsyncClient(timeout=30) as client:

            async def send(query: str, variables: dict[str, object]) -> None:
                answer = await client.post(mesh.url, json={"query": query, "variables": variables})
                _check(answer.json())

            accounts = min(args.accounts, 100)
            await _staleness(sqlite_path, send, max(10, args.ops // 10), args.concurrency, accounts, 4)  # warm-up
            return await _staleness(sqlite_path, send, args.ops, args.concurrency, accounts, 5)
    finally:
        mesh.stop()


async def _seed(pg: DatabaseInfo, maria: DatabaseInfo, sqlite_path: Path, accounts: int) -> None:
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database)
    try:
        for statement in PG_DDL:
            await conn.execute(statement)
        await conn.copy_records_to_table("accounts", records=[(i, 1000) for i in range(accounts)])
        await conn.copy_records_to_table("customers", records=[(i, f"c{i}@example.com") for i in range(accounts)])
    finally:
        await conn.close()
    my = await aiomysql.connect(
        host=maria.host, port=maria.port, user=maria.user, password=maria.password, db=maria.database
    )
    try:
        async with my.cursor() as cur:
            await cur.execute(MARIA_DDL)
    finally:
        my.close()
    with sqlite3.connect(sqlite_path) as lite:
        lite.execute("PRAGMA journal_mode=WAL")  # the staleness watcher's reads never block the cache's writer
        lite.execute(SQLITE_DDL)
        lite.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"c{i}@example.com") for i in range(accounts)])


def _staleness_row(run: str, result: Staleness) -> str:
    stale, latency = _percentiles(result.stale), _percentiles(result.latency)
    return (
        f"| {run} | {result.rate:.0f} | {stale['p50']:.1f} | {stale['p99']:.1f} | {stale['max']:.1f} |"
        f" {stale['at_once']:.0f} % | {latency['p50']:.1f} | {latency['p99']:.1f} | {latency['max']:.1f} |"
    )


def _report(
    args: argparse.Namespace,
    rows: list[tuple[str, str, float, dict[str, float]]],
    drainer: Staleness,
    inline: Staleness,
    deployed: Staleness,
) -> str:
    lines = [
        "# Write benchmark (`python -m bench.writes`)",
        "",
        f"{args.ops} writes per target and scenario, {args.concurrency} concurrent clients, {args.accounts} accounts;"
        " dbmesh's router and resolvers and the baseline in one process (no HTTP). Latency in ms.",
        "",
        "| scenario | target | writes/s | p50 | p99 | max |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario, target, rate, pct in rows:
        lines.append(f"| {scenario} | {target} | {rate:.0f} | {pct['p50']:.2f} | {pct['p99']:.2f} | {pct['max']:.2f} |")
    lines += [
        "",
        "Write-through staleness (PostgreSQL -> SQLite cache): from the router's answer until the row is in the"
        " SQLite file (0 when it was there already), and the write's own latency, in ms.",
        "",
        "| run | writes/s | stale p50 | stale p99 | stale max | in the cache when answered | write p50 | write p99"
        " | write max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        _staleness_row("in one process, drainer only (`inline_secs = 0`)", drainer),
        _staleness_row("in one process, applied before the answer", inline),
        _staleness_row("deployed (`dbmesh up`, HTTP), applied before the answer", deployed),
        "",
    ]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    pg_server, maria_server = BenchPostgres(), BenchMariaDB()
    with ThreadPoolExecutor(2) as pool:
        for started in [pool.submit(pg_server.start), pool.submit(maria_server.start)]:
            started.result()
    try:
        with tempfile.TemporaryDirectory(prefix="dbmesh-bench-writes-") as tmp:
            sqlite_path = Path(tmp) / "cache.db"
            pg, maria = pg_server.info(), maria_server.info()
            await _seed(pg, maria, sqlite_path, args.accounts)
            bench = Bench(pg, maria, sqlite_path, args.accounts)
            await bench.start()
            try:
                rows = []
                scenarios: list[tuple[str, str, Op]] = [
                    ("single-database update", "baseline (plain transaction)", bench.baseline_single),
                    ("single-database update", "dbmesh", bench.mesh_single),
                    ("cross-database transfer", "baseline (PREPARE TRANSACTION + XA)", bench.baseline_transfer),
                    ("cross-database transfer", "dbmesh (two-phase commit)", bench.mesh_transfer),
                ]
                for scenario, target, op in scenarios:
                    await _drive(op, max(10, args.ops // 10), args.concurrency, args.accounts, 1)  # warm-up
                    rate, latencies = await _drive(op, args.ops, args.concurrency, args.accounts, 2)
                    rows.append((scenario, target, rate, _percentiles(latencies)))
                drainer = await bench.staleness(args.ops, args.concurrency, 3, inline=False)
                inline = await bench.staleness(args.ops, args.concurrency, 6, inline=True)
            finally:
                await bench.stop()
            deployed = await staleness_deployed(pg, maria, sqlite_path, Path(tmp), args)
    finally:
        pg_server.cleanup()
        maria_server.cleanup()
    return _report(args, rows, drainer, inline, deployed)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writes", description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="writes per target and scenario (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts and customers (default 1000)")
    return run_report(parser, run, RESULTS)


if __name__ == "__main__":
    raise SystemExit(main())
