"""The guide's federation, on real servers: customers and details in PostgreSQL, orders and order
items in MariaDB, a customers cache in SQLite. Deterministic data, loaded with the drivers."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiomysql
import asyncpg
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
        await conn.execute(
            """
            CREATE TABLE customers (id uuid PRIMARY KEY, email text NOT NULL, name text NOT NULL,
                                    created_at timestamptz NOT NULL);
            CREATE TABLE customer_details (customer_id uuid PRIMARY KEY REFERENCES customers(id),
                phone text NOT NULL, address text NOT NULL, preferred_timezone text NOT NULL);
            """
        )
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
            await cur.execute(
                "CREATE TABLE orders (id CHAR(36) PRIMARY KEY, customer_id CHAR(36) NOT NULL, order_date DATE NOT NULL,"
                " total_amount DECIMAL(10,2) NOT NULL, INDEX (customer_id), INDEX (order_date))"
            )
            await cur.execute(
                "CREATE TABLE order_items (order_id CHAR(36) NOT NULL, product_id CHAR(36) NOT NULL,"
                " quantity INT NOT NULL, price DECIMAL(10,2) NOT NULL, PRIMARY KEY (order_id, product_id))"
            )
            await cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s)", data.order_rows())
            await cur.executemany("INSERT INTO order_items VALUES (%s, %s, %s, %s)", data.item_rows())
    finally:
        conn.close()


def load_sqlite(path: Path, data: Dataset, cached: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL,"
            " created_at TIMESTAMP NOT NULL)"
        )
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


def config_toml(pg: DatabaseInfo, my: DatabaseInfo, sqlite_path: Path, extra: str = "") -> str:
    return f"""
[[databases]]
name = "postgres_primary"
engine = "postgresql"
host = "{pg.host}"
port = {pg.port}
database = "{pg.database}"
username = "{pg.user}"
timeout_secs = 5

[[databases]]
name = "mysql_historical"
engine = "mysql"
host = "{my.host}"
port = {my.port}
database = "{my.database}"
username = "{my.user}"
password = "${{DB_MYSQL_PASSWORD:-}}"
read_only = true
timeout_secs = 5

[[databases]]
name = "sqlite_cache"
engine = "sqlite"
path = "{sqlite_path}"
read_only = true

[router]
probe_interval_secs = 1
breaker_reset_secs = 1
{extra}
"""
