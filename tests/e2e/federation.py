"""The guide's federation, on real servers: customers and details in PostgreSQL, orders and order
items in MariaDB, a customers cache in SQLite, in the tables deploy/ creates (harness.ddl).
Deterministic data, loaded with the drivers."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiomysql
import asyncpg
from harness import ddl
from harness.config import config_toml, server_settings
from harness.servers import DatabaseInfo

# The schema dbmesh ships for compose and Kubernetes: end to end, exactly what users deploy.
SCHEMA = Path(__file__).resolve().parents[2] / "deploy" / "schema.py"


def cid(n: int) -> str:
    return str(uuid.UUID(int=0x11110000_0000_4000_8000_000000000000 + n))


def oid(n: int, k: int) -> str:
    return str(uuid.UUID(int=0x22220000_0000_4000_8000_000000000000 + n * 100 + k))


@dataclass(frozen=True)
class Dataset:
    customers: int
    orders_per_customer: int = 3
    items_per_order: int = 2

    def customer_rows(self) -> list[tuple[uuid.UUID, str, str, datetime]]:
        start = datetime(2021, 1, 1, tzinfo=UTC)
        return [
            (uuid.UUID(cid(n)), f"c{n}@example.com", f"Customer {n:04d}", start + timedelta(hours=n))
            for n in range(1, self.customers + 1)
        ]

    def order_rows(self) -> list[tuple[str, str, date, Decimal]]:
        rows = []
        for n in range(1, self.customers + 1):
            for k in range(self.orders_per_customer):
                day = date(2022 + k % 3, 1 + n % 12, 1 + k)
                rows.append((oid(n, k), cid(n), day, Decimal(f"{n % 97 + k}.{k}5")))
        return rows

    def item_rows(self) -> list[tuple[str, str, int, Decimal]]:
        return [
            (order[0], str(uuid.UUID(int=j + 1)), j + 1, Decimal("9.99") + j)
            for order in self.order_rows()
            for j in range(self.items_per_order)
        ]


async def load_postgres(db: DatabaseInfo, data: Dataset) -> None:
    conn = await asyncpg.connect(host=db.host, port=db.port, user=db.user, database=db.database)
    try:
        await conn.execute(ddl.POSTGRESQL.read_text(encoding="utf-8"))
        await conn.copy_records_to_table("customers", records=data.customer_rows())
        details = [
            (r[0], f"+1-555-{i:04d}", f"{i} Main St", "UTC") for i, r in enumerate(data.customer_rows()) if i % 2 == 0
        ]
        await conn.copy_records_to_table("customer_details", records=details)
    finally:
        await conn.close()


async def load_mariadb(db: DatabaseInfo, data: Dataset) -> None:
    conn = await aiomysql.connect(
        host=db.host, port=db.port, user=db.user, password=db.password, db=db.database, autocommit=True
    )
    try:
        async with conn.cursor() as cur:
            for statement in ddl.statements(ddl.MYSQL):
                await cur.execute(statement)
            await cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s)", data.order_rows())
            await cur.executemany("INSERT INTO order_items VALUES (%s, %s, %s, %s)", data.item_rows())
    finally:
        conn.close()


def load_sqlite(path: Path, data: Dataset, cached: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(ddl.SQLITE.read_text(encoding="utf-8"))
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [
                (str(i), e, f"{n} (cached)", c.strftime("%Y-%m-%d %H:%M:%S"))
                for i, e, n, c in data.customer_rows()[:cached]
            ],
        )
        conn.commit()
    finally:
        conn.close()


def federation_toml(pg: DatabaseInfo, my: DatabaseInfo, sqlite_path: Path) -> str:
    """The deployed database names over the test's servers; MariaDB's password comes from
    DB_MYSQL_PASSWORD when it is set, as a deployment's would."""
    return config_toml(
        {
            "postgres_primary": {**server_settings(pg), "timeout_secs": 5},
            "mysql_historical": {
                **server_settings(my),
                "password": "${DB_MYSQL_PASSWORD:-}",
                "read_only": True,
                "timeout_secs": 5,
            },
            "sqlite_cache": {"engine": "sqlite", "path": str(sqlite_path), "read_only": True},
        },
        {"probe_interval_secs": 1, "breaker_reset_secs": 1},
    )
