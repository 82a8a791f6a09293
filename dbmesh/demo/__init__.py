"""`dbmesh demo`: sample SQLite databases in the roles of the deployed federation, served with its schema.

`postgres_primary` (primary.db) holds customers and their details, `mysql_historical`
(historical.db) orders and order items, `sqlite_cache` (cache.db) a copy of some customers (what
answers when the primary is down): the names, and the schema, of deploy/, so that the demo runs
the very schema module that is deployed (schema.py here links to it). The data is generated from
a fixed seed, so every run serves the same rows.
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


def _write(path: Path, rows: dict[str, list[Any]]) -> None:
    """A new SQLite database at `path` with the federation's tables (tables.sql, the deployed
    SQLite tables) and these rows in them."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(resources.files("dbmesh.demo").joinpath("tables.sql").read_text(encoding="utf-8"))
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
    _write(data_dir / "primary.db", {"customers": customers, "customer_details": details})
    _write(data_dir / "historical.db", {"orders": orders, "order_items": items})
    _write(data_dir / "cache.db", {"customers": customers[:CACHED]})
    return _bundled(data_dir, "dbmesh.toml"), _bundled(data_dir, "schema.py")


def _bundled(data_dir: Path, name: str) -> Path:
    """A copy of one of the package's demo files in `data_dir`, where the user can read and edit it."""
    copy = data_dir / name
    copy.write_text(resources.files("dbmesh.demo").joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    return copy
