"""Faults with real processes (docs/reference.md §5, §7): a resolver process killed, a database server stopped
behind a live resolver, a database slower than its deadline; each followed by recovery. Each test
asserts exactly what the client receives, and counts (never times) how many requests waited for
a deadline before the circuit opened."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from harness import ddl
from harness.config import config_toml, server_settings
from harness.mesh import UpProcess
from harness.servers import PostgresServer
from prometheus_client.parser import text_string_to_metric_families

SCHEMA = Path(__file__).with_name("schema.py")
C1 = "11111111-0000-4000-8000-000000000001"


async def _load(pg: PostgresServer, folder: Path) -> None:
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database)
    try:
        await conn.execute(ddl.POSTGRESQL.read_text(encoding="utf-8"))
        await conn.execute("INSERT INTO customers VALUES ($1, 'ada@example.com', 'Ada', '2024-01-01T00:00:00Z')", C1)
    finally:
        await conn.close()
    db = sqlite3.connect(folder / "cache.db")
    db.executescript(ddl.SQLITE.read_text(encoding="utf-8"))
    db.execute("INSERT INTO customers VALUES (?, 'ada@example.com', 'Ada (cached)', '2024-01-01 00:00:00')", (C1,))
    db.commit()
    db.close()
    db = sqlite3.connect(folder / "history.db")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, total REAL NOT NULL)")
    db.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(1, C1, 9.5), (2, C1, 3.25)])
    db.commit()
    db.close()


@dataclass
class Mesh:
    up: UpProcess
    pg: PostgresServer

    async def post(self, query: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(self.up.url, json={"query": query, "extensions": {"trace": True}})
        body: dict[str, Any] = response.json()
        return body

    async def metric(self, name: str, **labels: str) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(self.up.url.replace("/graphql", "/metrics"))).text
        return sum(
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )


@pytest.fixture
async def mesh(pg_private_server: PostgresServer, tmp_path: Path) -> AsyncIterator[Mesh]:
    await _load(pg_private_server, tmp_path)
    config = tmp_path / "dbmesh.toml"
    pg = pg_private_server
    databases = {
        "postgres_primary": {**server_settings(pg.info()), "timeout_secs": 2},
        "sqlite_cache": {"engine": "sqlite", "path": "cache.db", "read_only": True},
        "history": {"engine": "sqlite", "path": "history.db"},
    }
    config.write_text(
        config_toml(databases, {"probe_interval_secs": 0.5, "breaker_failures": 3, "breaker_reset_secs": 30})
    )
    up = await UpProcess(config, SCHEMA).start()
    yield Mesh(up, pg_private_server)
    assert await up.stop() == 0


async def _eventually(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "did not recover"
        await asyncio.sleep(0.2)


async def test_resolver_process_killed_then_restarted(mesh: Mesh) -> None:
    query = "{ customers { name allOrders { total } } }"
    assert (await mesh.post(query))["data"]["customers"][0]["allOrders"] == [{"total": 9.5}, {"total": 3.25}]
    mesh.up.kill_resolver("history")
    body = await mesh.post(query)
    assert body["data"] == {"customers": [{"name": "Ada", "allOrders": None}]}
    assert [(e["path"], e["extensions"]["code"], e["extensions"]["database"]) for e in body["errors"]] == [
        (["customers", 0, "allOrders"], "DATABASE_UNAVAILABLE", "history")
    ]
    await mesh.up.wait_restarted("history")

    async def recovered() -> bool:
        return "errors" not in await mesh.post(query)

    await _eventually(recovered)


async def test_postgres_stopped_customers_come_from_the_cache(mesh: Mesh) -> None:
    mesh.pg.stop()
    body = await mesh.post("{ customers { name sourceDatabase } }")
    assert body["data"] == {"customers": [{"name": "Ada (cached)", "sourceDatabase": "sqlite_cache"}]}
    assert "errors" not in body
    assert body["extensions"]["trace"]["routes"][0]["fallback_from"] == "postgres_primary"
    no_fallback = await mesh.post('{ customer(id: "%s") { name } }' % C1)
    assert no_fallback["data"] == {"customer": None}
    assert no_fallback["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert "password" not in str(no_fallback) and "postgresql://" not in str(no_fallback)
    mesh.pg.start()

    async def recovered() -> bool:
        body = await mesh.post("{ customers { sourceDatabase } }")
        return body.get("data", {}).get("customers") == [{"sourceDatabase": "postgres_primary"}]

    await _eventually(recovered)


def _freeze(pg: PostgresServer, sig: signal.Signals) -> None:
    """SIGSTOP / SIGCONT the postmaster and every backend: a database that answers nothing."""
    assert pg.pid is not None
    children = Path(f"/proc/{pg.pid}/task/{pg.pid}/children").read_text().split()
    for pid in [pg.pid, *map(int, children)]:
        os.kill(pid, sig)


async def test_database_slower_than_its_deadline_then_the_circuit_opens(mesh: Mesh) -> None:
    query = '{ customer(id: "%s") { name } orders { id } }' % C1
    assert (await mesh.post(query))["data"]["customer"] == {"name": "Ada"}
    _freeze(mesh.pg, signal.SIGSTOP)
    try:
        codes = []
        for _ in range(3):  # each of these waits for the 2 s deadline
            body = await mesh.post(query)
            assert body["data"]["customer"] is None
            assert body["data"]["orders"] == [{"id": 1}, {"id": 2}]  # the rest of the response
            codes.append(body["errors"][0]["extensions"]["code"])
        assert set(codes) <= {"DATABASE_TIMEOUT", "DATABASE_UNAVAILABLE"}
        waited = await mesh.metric("dbmesh_fetch_errors_total", database="postgres_primary")
        assert waited == 3
        for _ in range(4):  # circuit open: no call waits any more
            body = await mesh.post(query)
            assert "circuit open" in body["errors"][0]["message"]
        assert await mesh.metric("dbmesh_fetch_errors_total", database="postgres_primary", code="circuit_open") == 4
        fallback = await mesh.post("{ customers { sourceDatabase } }")  # immediate fallback while open
        assert fallback["data"]["customers"] == [{"sourceDatabase": "sqlite_cache"}]
    finally:
        _freeze(mesh.pg, signal.SIGCONT)

    async def recovered() -> bool:
        body = await mesh.post(query)
        return body.get("data", {}).get("customer") == {"name": "Ada"}

    await _eventually(recovered)
