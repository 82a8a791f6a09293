"""Health and readiness (docs/reference.md §5-§7) through the real HTTP router and real SQLite
resolvers: a database unreachable at start is schema-checked when it comes back (and kept out of
service when it does not match), `/readyz` per the contract and `/readyz?partial=true` for load
balancers, and clients never see a database's own error text."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from harness.mesh import InProcessMesh
from harness.servers import free_port

SCHEMA = Path(__file__).with_name("late_schema.py")


def _db(path: Path, widget_columns: str) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE widgets ({widget_columns})")
    conn.execute("CREATE TABLE gadgets (name TEXT NOT NULL)")
    conn.execute("INSERT INTO gadgets VALUES ('g1')")
    if "color" in widget_columns:
        conn.execute("INSERT INTO widgets VALUES ('w1', 'red')")
    conn.commit()
    conn.close()
    return path


@dataclass
class LateMesh(InProcessMesh):
    """A mesh whose `late` resolver is not running when the router starts (its port is reserved)."""

    down_at_start: set[str] = field(default_factory=set)

    async def start_resolver(self, name: str) -> None:
        if name in self.down_at_start:
            self.down_at_start.discard(name)
            self.ports[name] = free_port()
            return
        await super().start_resolver(name)


@pytest.fixture
async def late(tmp_path: Path) -> AsyncIterator[LateMesh]:
    databases = {
        "store": {"engine": "sqlite", "path": str(_db(tmp_path / "store.db", "name TEXT NOT NULL, color TEXT"))},
        # `late` lacks the `color` column the schema needs.
        "late": {"engine": "sqlite", "path": str(_db(tmp_path / "late.db", "name TEXT NOT NULL"))},
    }
    mesh = await LateMesh(databases, SCHEMA, down_at_start={"late"}).start()
    yield mesh
    await mesh.stop()


async def _get(mesh: InProcessMesh, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(mesh.url.replace("/graphql", path))


async def test_a_database_down_at_start_is_schema_checked_when_it_comes_back(late: LateMesh) -> None:
    body = await late.post("{ widgets { name sourceDatabase } }")
    assert body["data"]["widgets"] == [{"name": "w1", "sourceDatabase": "store"}]  # late is down: fallback
    await late.start_resolver("late")  # back, on the reserved port, without the `color` column
    for _ in range(50):  # the router's channel reconnects within its backoff (at most 2 s)
        await late.router_probe()
        status = await late.post("{ databaseStatus { name connected error } }")
        (entry,) = [s for s in status["data"]["databaseStatus"] if s["name"] == "late"]
        if entry["connected"]:
            break
        await asyncio.sleep(0.1)
    assert entry["error"] == (
        "does not match the schema: Widget (served by Query.widgets): table 'widgets' in database 'late' "
        "has no column 'color'"
    )
    # Kept out of service: widgets still come from the fallback, gadgets fail as unavailable.
    body = await late.post("{ widgets { name sourceDatabase } }")
    assert body["data"]["widgets"] == [{"name": "w1", "sourceDatabase": "store"}] and "errors" not in body
    body = await late.post("{ gadgets { name } }")
    assert body["data"] == {"gadgets": None}
    assert body["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert body["errors"][0]["message"].startswith("database 'late' does not match the schema: ")


async def test_readiness_by_the_contract_and_for_load_balancers(late: LateMesh) -> None:
    strict = await _get(late, "/readyz")
    assert strict.status_code == 503  # gadgets have no fallback while late is down
    assert strict.json()["problems"] == ["late: unavailable (its resolver or the database cannot be reached)"]
    partial = await _get(late, "/readyz?partial=true")
    assert partial.status_code == 200 and partial.json()["status"] == "ready"
    assert partial.json()["databases"]["late"] == {
        "connected": False,
        "circuit": "closed",
        "error": "unavailable (its resolver or the database cannot be reached)",
    }
    health = (await _get(late, "/healthz")).json()
    assert health["status"] == "ok" and health["databases"]["store"] == {
        "connected": True,
        "circuit": "closed",
        "error": None,
    }


async def test_clients_never_see_the_database_error_text(late: LateMesh) -> None:
    texts = [
        (await _get(late, "/readyz")).text,
        (await _get(late, "/healthz")).text,
        str(await late.post("{ databaseStatus { error } }")),
    ]
    for text in texts:
        assert "127.0.0.1" not in text and "failed to connect" not in text.lower() and "grpc" not in text.lower()
