"""The benchmark's data: generated deterministically from a seed, loaded with each engine's fast path.

At `--scale 1`: 10,000 customers and 10,000 customer details in PostgreSQL (asyncpg COPY),
100,000 orders and 300,000 order items in MariaDB (`LOAD DATA LOCAL INFILE` from files sorted by
primary key), every customer again in the SQLite cache. Orders go to random customers (about 10
each), with dates spread over 2015-2024; every order has 3 distinct products.
Ids are random UUIDs (lower-case), so keys spread over the whole index as in production.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pymysql
from harness import ddl

from bench.servers import DatabaseInfo

__all__ = ["Dataset", "load_mariadb", "load_postgres", "load_postgres_orders", "load_sqlite"]

CUSTOMERS = 10_000
ORDERS_PER_CUSTOMER = 10
ITEMS_PER_ORDER = 3
PRODUCTS = 1_000
FIRST_NAMES = ("Ana", "José", "Zoë", "Łukasz", "Mia", "Noah", "Chloé", "Søren", "Amir", "Yuki", "Olga", "Liam")
LAST_NAMES = ("García", "Müller", "Smith", "Nowak", "O'Brien", "Rossi", "Dubois", "Kowalski", "Lee", "Núñez")

Customer = tuple[str, str, str, datetime]
Detail = tuple[str, str, str, str]
Order = tuple[str, str, date, str]
Item = tuple[str, str, int, str]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _money(rng: random.Random, low_cents: int, high_cents: int) -> str:
    cents = rng.randint(low_cents, high_cents)
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass
class Dataset:
    """Rows for every table, generated from `seed` at `scale` (1.0 = the default sizes)."""

    scale: float = 1.0
    seed: int = 20240601
    customers: list[Customer] = field(default_factory=list)
    details: list[Detail] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        count = max(10, round(CUSTOMERS * self.scale))
        start = datetime(2020, 1, 1, tzinfo=UTC)
        for n in range(count):
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            created = start + timedelta(seconds=rng.randrange(4 * 365 * 86400))
            self.customers.append((_uuid(rng), f"customer{n}@example.com", name, created))
        for n, (cid, *_rest) in enumerate(self.customers):
            self.details.append((cid, f"+1-555-{n:06d}", f"{rng.randint(1, 999)} Main St", "UTC"))
        products = [_uuid(rng) for _ in range(PRODUCTS)]
        first_day = date(2015, 1, 1).toordinal()
        days = date(2024, 12, 31).toordinal() - first_day + 1
        for _ in range(count * ORDERS_PER_CUSTOMER):
            order_id = _uuid(rng)
            customer = rng.choice(self.customers)[0]
            day = date.fromordinal(first_day + rng.randrange(days))
            self.orders.append((order_id, customer, day, _money(rng, 500, 99_999)))
            for product in rng.sample(products, ITEMS_PER_ORDER):
                self.items.append((order_id, product, rng.randint(1, 5), _money(rng, 99, 19_999)))

    @property
    def customer_ids(self) -> list[str]:
        return [c[0] for c in self.customers]

    def describe(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "customer_details": len(self.details),
            "orders": len(self.orders),
            "order_items": len(self.items),
            "sqlite_cached_customers": len(self.customers),
        }


async def load_postgres(db: DatabaseInfo, data: Dataset) -> None:
    """Customers and their details (the tables of deploy's PostgreSQL DDL), with COPY."""
    conn = await asyncpg.connect(host=db.host, port=db.port, user=db.user, database=db.database)
    try:
        await conn.execute(ddl.POSTGRESQL.read_text(encoding="utf-8"))
        await conn.copy_records_to_table(
            "customers", records=[(uuid.UUID(c[0]), c[1], c[2], c[3]) for c in data.customers]
        )
        await conn.copy_records_to_table(
            "customer_details", records=[(uuid.UUID(d[0]), d[1], d[2], d[3]) for d in data.details]
        )
        for table in ("customers", "customer_details"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


async def load_postgres_orders(db: DatabaseInfo, data: Dataset) -> None:
    """Orders and items in PostgreSQL instead of MariaDB (`--orders-on postgresql`, a dev aid)."""
    conn = await asyncpg.connect(host=db.host, port=db.port, user=db.user, database=db.database)
    try:
        await conn.execute(
            """
            CREATE TABLE orders (id uuid PRIMARY KEY, customer_id uuid NOT NULL, order_date date NOT NULL,
                                 total_amount numeric(10,2) NOT NULL);
            CREATE INDEX ON orders (customer_id);
            CREATE INDEX ON orders (order_date);
            CREATE TABLE order_items (order_id uuid NOT NULL, product_id uuid NOT NULL, quantity int NOT NULL,
                                      price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, product_id));
            """
        )
        await conn.copy_records_to_table(
            "orders", records=[(uuid.UUID(o[0]), uuid.UUID(o[1]), o[2], Decimal(o[3])) for o in data.orders]
        )
        await conn.copy_records_to_table(
            "order_items", records=[(uuid.UUID(i[0]), uuid.UUID(i[1]), i[2], Decimal(i[3])) for i in data.items]
        )
        for table in ("orders", "order_items"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


def _tsv(path: Path, rows: list[tuple[object, ...]]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.writelines("\t".join(str(v) for v in row) + "\n" for row in sorted(rows, key=lambda r: (r[0], r[1])))
    return path


def load_mariadb(db: DatabaseInfo, data: Dataset, folder: Path) -> None:
    """Orders and order items (the tables of deploy's MySQL DDL), with LOAD DATA LOCAL INFILE
    from tab-separated files sorted by primary key (InnoDB appends instead of splitting pages).
    Blocking: PyMySQL sends the file in 16 kB packets (aiomysql's 16 MB ones get the connection
    reset)."""
    orders = _tsv(folder / "orders.tsv", list(data.orders))
    items = _tsv(folder / "order_items.tsv", list(data.items))
    conn = pymysql.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        database=db.database,
        autocommit=True,
        local_infile=True,
        read_timeout=600,
        write_timeout=600,
    )
    try:
        with conn.cursor() as cur:
            for statement in ddl.statements(ddl.MYSQL):
                cur.execute(statement)
            files = (("orders", orders, len(data.orders)), ("order_items", items, len(data.items)))
            for table, path, expected in files:
                cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} FIELDS TERMINATED BY '\\t'")
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                (loaded,) = cur.fetchone()
                if loaded != expected:
                    raise RuntimeError(f"MariaDB {table}: loaded {loaded} rows of {expected}")
            cur.execute("ANALYZE TABLE orders, order_items")
            cur.fetchall()
    finally:
        conn.close()
        orders.unlink(missing_ok=True)
        items.unlink(missing_ok=True)


def load_sqlite(path: Path, data: Dataset) -> None:
    """The customers cache (the fallback of `customers`, in deploy's SQLite tables): every customer."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(ddl.SQLITE.read_text(encoding="utf-8"))
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [(c[0], c[1], c[2], c[3].strftime("%Y-%m-%d %H:%M:%S")) for c in data.customers],
        )
        conn.commit()
    finally:
        conn.close()
