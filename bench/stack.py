"""Everything the measurement runs against, started in order and always stopped in reverse:
throwaway PostgreSQL and MariaDB servers, the generated data, the mesh (`dbmesh up`) and the
baseline. Each piece is a context manager, so a failure (or Ctrl-C) anywhere stops what started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from harness.config import config_toml, server_settings

from bench.data import Dataset, load_mariadb, load_postgres, load_postgres_orders, load_sqlite
from bench.processes import BASELINE_READY, Child, Mesh, baseline
from bench.servers import BenchMariaDB, BenchPostgres, DatabaseInfo

__all__ = ["SCHEMA", "Databases", "Targets", "databases", "load", "targets"]

# The schema dbmesh ships in deploy/ (compose and Kubernetes): the benchmark measures what users run.
SCHEMA = Path(__file__).resolve().parents[1] / "deploy" / "schema.py"
POOL_SIZE = 10  # dbmesh's default pool_size; the baseline's pools get the same
TIMEOUT_SECS = 30


@dataclass
class Databases:
    postgres: DatabaseInfo
    orders: DatabaseInfo  # MariaDB, or a second PostgreSQL database with --orders-on postgresql
    sqlite: Path
    versions: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)  # server processes, for CPU accounting


@dataclass
class Targets:
    mesh: Mesh
    baseline: Child
    baseline_url: str

    def pids(self) -> dict[str, int]:
        return {**self.mesh.pids(), "baseline": self.baseline.pid}


def _stop(server: BenchPostgres | BenchMariaDB) -> None:
    server.cleanup()


@contextlib.contextmanager
def databases(work: Path, orders_on: str = "mysql") -> Iterator[Databases]:
    """Start the throwaway servers (concurrently) and yield where the data goes."""
    pg = BenchPostgres()
    servers: list[BenchPostgres | BenchMariaDB] = [pg]
    mariadb: BenchMariaDB | None = None
    with contextlib.ExitStack() as stack:
        stack.callback(_stop, pg)
        if orders_on == "mysql":
            mariadb = BenchMariaDB()
            servers.append(mariadb)
            stack.callback(_stop, mariadb)

        with ThreadPoolExecutor(len(servers)) as pool:
            for started in [pool.submit(s.start) for s in servers]:
                started.result()
        versions = {"postgresql": pg.psql("SHOW server_version").strip()}
        pids = {"postgresql": pg.pid or 0}
        if mariadb is not None:
            versions["mariadb"] = str(mariadb.execute("SELECT VERSION()")[0][0])
            pids["mariadb"] = mariadb.pid or 0
            orders = mariadb.info()
        else:
            pg.create_database("historical")
            orders = pg.info("historical")
        yield Databases(pg.info(), orders, work / "cache.db", versions, pids)


async def load(data: Dataset, dbs: Databases, work: Path) -> dict[str, float]:
    """Load every table; seconds per database."""
    timings: dict[str, float] = {}

    async def timed(name: str, job: asyncio.Future[None] | asyncio.Task[None]) -> None:
        start = time.perf_counter()
        await job
        timings[name] = round(time.perf_counter() - start, 2)

    if dbs.orders.engine == "mysql":
        orders_job = asyncio.ensure_future(asyncio.to_thread(load_mariadb, dbs.orders, data, work))
    else:
        orders_job = asyncio.ensure_future(load_postgres_orders(dbs.orders, data))
    dbs.sqlite.unlink(missing_ok=True)
    outcomes = await asyncio.gather(
        timed("postgresql", asyncio.ensure_future(load_postgres(dbs.postgres, data))),
        timed("orders", orders_job),
        timed("sqlite", asyncio.ensure_future(asyncio.to_thread(load_sqlite, dbs.sqlite, data))),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return timings


def mesh_config(dbs: Databases, pool_size: int = POOL_SIZE) -> str:
    """The mesh's configuration: the deployed database names over the benchmark's servers."""
    pools = {"pool_size": pool_size, "timeout_secs": TIMEOUT_SECS}
    return config_toml(
        {
            "postgres_primary": {**server_settings(dbs.postgres), **pools},
            "mysql_historical": {**server_settings(dbs.orders), **pools, "read_only": True},
            "sqlite_cache": {"engine": "sqlite", "path": str(dbs.sqlite), "read_only": True},
        },
        {"tracing": "request"},
        comment="written by the benchmark (bench/stack.py)",
    )


def baseline_config(dbs: Databases, pool_size: int = POOL_SIZE) -> dict[str, object]:
    def spec(db: DatabaseInfo) -> dict[str, object]:
        return {
            "engine": db.engine,
            "host": db.host,
            "port": db.port,
            "user": db.user,
            "password": db.password,
            "database": db.database,
        }

    return {"postgres": spec(dbs.postgres), "orders": spec(dbs.orders), "pool_size": pool_size}


@contextlib.contextmanager
def targets(dbs: Databases, work: Path, pool_size: int = POOL_SIZE) -> Iterator[Targets]:
    """Start the mesh and the baseline; stop both however the block ends."""
    config = work / "dbmesh.toml"
    config.write_text(mesh_config(dbs, pool_size))
    baseline_json = work / "baseline.json"
    baseline_json.write_bytes(orjson.dumps(baseline_config(dbs, pool_size)))
    mesh = Mesh(config, SCHEMA, work / "mesh.log")
    direct = baseline(baseline_json, work / "baseline.log")
    with contextlib.ExitStack() as stack:
        stack.callback(mesh.stop)
        stack.callback(direct.stop)
        mesh.start()
        direct.start()
        url = direct.wait_for(BASELINE_READY, 60).group(1)
        mesh.wait_ready()
        yield Targets(mesh, direct, url)
