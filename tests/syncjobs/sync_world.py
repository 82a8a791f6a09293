"""The sync jobs' test world (fixture `orders`, registered by conftest.py): the design document's
nightly archive (docs/reference.md §12) — `orders` on a fresh PostgreSQL database of the session's
throwaway server (`postgres_primary`, the source) and on a fresh MariaDB database
(`mysql_historical`, the target), and a config file naming both without resolver addresses, so
every `dbmesh sync` command starts its own resolvers (in its process) as users' runs do.

Rows are inserted and checked with the plain drivers (conformance.backends), never through dbmesh.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conformance.backends import MysqlBackend, PostgresBackend
from harness.config import config_toml, server_settings, toml_value
from harness.servers import DatabaseInfo

from dbmesh import commands

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PG = "postgres_primary"
MYSQL = "mysql_historical"
TRANSACTIONS = {"log_database": PG, "recovery_interval_secs": 0.3, "lease_secs": 1.5}

PG_DDL = (
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer NOT NULL, status text NOT NULL,"
    " total numeric(10,2) NOT NULL, created_at timestamptz NOT NULL, note text)"
)
MYSQL_DDL = (
    "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(32) NOT NULL,"
    " total DECIMAL(10,2) NOT NULL, created_at DATETIME(6) NOT NULL, note TEXT)"
)
COLUMNS = "id, customer_id, status, total, created_at, note"
# Every order is created this long before the run: old enough for the archive's `now-30d`.
OLD = timedelta(days=40)
BASE = datetime.now(UTC).replace(microsecond=0) - OLD


def order(n: int, *, at: datetime | None = None, status: str = "completed", note: str | None = None) -> tuple[Any, ...]:
    """Order `n`: created `n` seconds after BASE unless `at` is given."""
    created = at if at is not None else BASE + timedelta(seconds=n)
    return (n, n % 7, status, Decimal(f"{n}.25"), created, note if note is not None else f"order {n}")


def job_toml(job: dict[str, Any]) -> str:
    """One `[[sync]]` table; `where` is given as its TOML text."""
    lines = ["[[sync]]"]
    for key, value in job.items():
        lines.append(f"{key} = {value if key == 'where' else toml_value(value)}")
    return "\n".join(lines) + "\n"


@dataclass
class Orders:
    pg_info: DatabaseInfo
    mysql_info: DatabaseInfo
    pg: PostgresBackend
    mysql: MysqlBackend
    tmp: Path

    def config(self, *jobs: dict[str, Any], transactions: dict[str, Any] | None = None) -> Path:
        """Write the config file with these `[[sync]]` jobs; its path."""
        text = config_toml({PG: server_settings(self.pg_info), MYSQL: server_settings(self.mysql_info)})
        text += "\n[transactions]\n" + "".join(
            f"{k} = {toml_value(v)}\n" for k, v in (transactions or TRANSACTIONS).items()
        )
        text += "".join("\n" + job_toml(job) for job in jobs)
        path = self.tmp / "dbmesh.toml"
        path.write_text(text, encoding="utf-8")
        return path

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        await self.pg.executemany(f"INSERT INTO orders ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)", rows)

    async def source_rows(self) -> list[tuple[Any, ...]]:
        return _canonical(await self.pg.fetch(f"SELECT {COLUMNS} FROM orders ORDER BY id"))

    async def target_rows(self) -> list[tuple[Any, ...]]:
        return _canonical(await self.mysql.fetch(f"SELECT {COLUMNS} FROM orders ORDER BY id"))

    async def state(self, job: str) -> dict[str, Any]:
        rows = await self.mysql.fetch(
            "SELECT high_water, rows_copied, rows_deleted, last_rows, last_error FROM dbmesh_sync_state WHERE job = %s",
            [job],
        )
        if not rows:
            return {"high_water": None, "rows_copied": 0, "rows_deleted": 0, "last_rows": None, "last_error": None}
        mark, copied, deleted, last, error = rows[0]
        return {
            "high_water": json.loads(mark) if mark else None,
            "rows_copied": copied,
            "rows_deleted": deleted,
            "last_rows": last,
            "last_error": error,
        }


def _canonical(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows as comparable across engines: datetimes aware in UTC."""
    fixed = []
    for r in rows:
        created = r[4] if r[4].tzinfo else r[4].replace(tzinfo=UTC)
        fixed.append((int(r[0]), int(r[1]), r[2], Decimal(r[3]), created.astimezone(UTC), r[5]))
    return fixed


async def run(config: Path, *names: str) -> tuple[int, str]:
    """`dbmesh sync run -c CONFIG NAME...` in this process (the command's own code, its resolvers
    started by it); the exit status and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await commands.sync_run(str(config), list(names))
    return code, out.getvalue()


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A real `dbmesh` process."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "dbmesh", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
async def orders(pg_database: DatabaseInfo, mysql_database: DatabaseInfo, tmp_path: Path) -> AsyncIterator[Orders]:
    pg = PostgresBackend(pg_database)
    mysql = MysqlBackend(mysql_database)
    await pg.execute(PG_DDL)
    await mysql.execute(MYSQL_DDL)
    try:
        yield Orders(pg_database, mysql_database, pg, mysql, tmp_path)
    finally:
        await pg.close()
        await mysql.close()
