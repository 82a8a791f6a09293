"""A real router (federation on) over real resolvers: customers and notes in a throwaway
PostgreSQL database, orders in a SQLite file; and the npm packages of js/ installed."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from apollo.node import npm_ci
from harness.config import server_settings
from harness.mesh import InProcessMesh
from harness.servers import DatabaseInfo

SCHEMA = Path(__file__).with_name("schema.py")
CUSTOMERS = {uuid.UUID(int=n): f"Customer {n}" for n in range(1, 4)}
ORDERS = [(1, 1, 10), (2, 1, 20), (3, 2, 30)]  # (id, customer n, total)


def customer_id(n: int) -> str:
    return str(uuid.UUID(int=n))


@pytest.fixture(scope="session")
def node_packages() -> None:
    npm_ci()


async def _load(pg: DatabaseInfo, sqlite_path: Path) -> None:
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database)
    try:
        await conn.execute("CREATE TABLE customers (id uuid PRIMARY KEY, name text NOT NULL)")
        await conn.executemany("INSERT INTO customers VALUES ($1, $2)", list(CUSTOMERS.items()))
        await conn.execute("CREATE TABLE notes (customer_id uuid NOT NULL, text text NOT NULL)")
    finally:
        await conn.close()
    with sqlite3.connect(sqlite_path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, total INTEGER NOT NULL)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, customer_id(n), t) for i, n, t in ORDERS])
    db.close()


@pytest.fixture(scope="module")
async def subgraph(
    pg_module_database: DatabaseInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcessMesh]:
    shop = tmp_path_factory.mktemp("federation") / "shop.db"
    await _load(pg_module_database, shop)
    databases = {"pg": server_settings(pg_module_database), "shop": {"engine": "sqlite", "path": str(shop)}}
    mesh = await InProcessMesh(databases, SCHEMA, {"federation": True, "tracing": "request"}).start()
    yield mesh
    await mesh.stop()
