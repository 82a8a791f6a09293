"""`dbmesh demo`: sample SQLite databases in the roles of the guide, and a schema over them.

`primary` holds customers and their details, `historical` orders and order items, `cache` a
copy of some customers (what answers when `primary` is down). The data is generated from a fixed
seed, so every run serves the same rows.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["EXAMPLE_QUERY", "customer_id", "prepare"]

EXAMPLE_QUERY = """query CustomerWithHistory($id: ID!) {
  customer(id: $id) {
    id name email sourceDatabase
    details { phone preferredTimezone }
    allOrders(orderBy: [{orderDate: DESC}], limit: 3) { id orderDate totalAmount items { quantity price } }
  }
  databaseStatus { name connected latency_ms }
}"""

CUSTOMERS = 50
CACHED = 30


def customer_id(n: int) -> str:
    return str(uuid.UUID(f"00000000-0000-4000-8000-{n:012d}"))


_FIRST = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger", "Zoë"]
_LAST = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Dijkstra", "Émile"]

_PRIMARY = """
CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE customer_details (customer_id TEXT PRIMARY KEY REFERENCES customers(id), phone TEXT NOT NULL,
  address TEXT NOT NULL, preferred_timezone TEXT NOT NULL);
"""
_HISTORICAL = """
CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, order_date DATE NOT NULL,
  total_amount DECIMAL(10,2) NOT NULL);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_date ON orders (order_date);
CREATE TABLE order_items (order_id TEXT NOT NULL REFERENCES orders(id), product_id TEXT NOT NULL,
  quantity INTEGER NOT NULL, price DECIMAL(10,2) NOT NULL, PRIMARY KEY (order_id, product_id));
"""


def _write(path: Path, ddl: str, rows: dict[str, list[Any]]) -> None:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(ddl)
        for table, values in rows.items():
            if values:
                marks = ", ".join("?" for _ in values[0])
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        conn.commit()
    finally:
        conn.close()


def prepare(data_dir: Path) -> tuple[Path, Path]:
    """(Re)create the sample databases and a config under `data_dir`; (config, schema) paths."""
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)  # noqa: S311 - sample data, not secrets
    start = datetime(2020, 1, 1, tzinfo=UTC)
    customers, details, orders, items = [], [], [], []
    for n in range(1, CUSTOMERS + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        created = start + timedelta(days=rng.randrange(0, 1500), seconds=rng.randrange(86400))
        cid = customer_id(n)
        customers.append(
            (cid, f"{first.lower()}.{n}@example.com", f"{first} {last}", created.strftime("%Y-%m-%d %H:%M:%S"))
        )
        if n % 5:
            details.append(
                (cid, f"+1-555-{n:04d}", f"{n} Main Street", rng.choice(["UTC", "Europe/Paris", "America/New_York"]))
            )
        for _ in range(rng.randrange(0, 9)):
            oid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            day = date(2019, 1, 1) + timedelta(days=rng.randrange(0, 6 * 365))
            lines = [
                (
                    oid,
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    rng.randrange(1, 5),
                    f"{rng.randrange(100, 20000) / 100:.2f}",
                )
                for _ in range(rng.randrange(1, 4))
            ]
            total = sum(q * float(p) for _, _, q, p in lines)
            orders.append((oid, cid, day.isoformat(), f"{total:.2f}"))
            items.extend(lines)
    _write(data_dir / "primary.db", _PRIMARY, {"customers": customers, "customer_details": details})
    _write(data_dir / "historical.db", _HISTORICAL, {"orders": orders, "order_items": items})
    _write(data_dir / "cache.db", _PRIMARY, {"customers": customers[:CACHED], "customer_details": []})
    config = data_dir / "dbmesh.toml"
    config.write_text(
        "# Written by `dbmesh demo`: three SQLite databases in the roles of the guide.\n"
        '[[databases]]\nname = "primary"\nengine = "sqlite"\npath = "primary.db"\n\n'
        '[[databases]]\nname = "historical"\nengine = "sqlite"\npath = "historical.db"\nread_only = true\n\n'
        '[[databases]]\nname = "cache"\nengine = "sqlite"\npath = "cache.db"\nread_only = true\n\n'
        '[router]\ntracing = "request"\n',
        encoding="utf-8",
    )
    schema = data_dir / "schema.py"
    schema.write_text(
        resources.files("dbmesh.demo").joinpath("schema.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return config, schema
