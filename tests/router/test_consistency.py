"""source_database, last_sync and is_stale through the router (docs/reference.md §4)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness.mesh import InProcessMesh

SCHEMA = Path(__file__).with_name("consistency_schema.py")


def _db(path: Path, rows: list[tuple[str, str, str | None]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, synced_at TIMESTAMP)")
    conn.executemany("INSERT INTO products VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[InProcessMesh]:
    now = datetime.now(UTC)
    fresh = (now - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    old = (now - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    _db(
        tmp_path / "store.db",
        [
            ("00000000-0000-4000-8000-000000000001", "fresh", fresh),
            ("00000000-0000-4000-8000-000000000002", "old", old),
            ("00000000-0000-4000-8000-000000000003", "never", None),
        ],
    )
    _db(tmp_path / "mirror.db", [("00000000-0000-4000-8000-000000000001", "mirrored", fresh)])
    databases = {
        "store": {"engine": "sqlite", "path": str(tmp_path / "store.db")},
        "mirror": {"engine": "sqlite", "path": str(tmp_path / "mirror.db"), "read_only": True},
    }
    mesh = await InProcessMesh(databases, SCHEMA).start()
    yield mesh
    await mesh.stop()


async def test_is_stale_compares_last_sync_with_max_staleness(mesh: InProcessMesh) -> None:
    body = await mesh.post("{ products { name sourceDatabase lastSync isStale } }")
    rows = {r["name"]: r for r in body["data"]["products"]}
    assert rows["fresh"]["isStale"] is False and rows["fresh"]["lastSync"].endswith("Z")
    assert rows["old"]["isStale"] is True
    assert rows["never"] == {"name": "never", "sourceDatabase": "store", "lastSync": None, "isStale": None}


async def test_source_database_after_a_fallback(mesh: InProcessMesh) -> None:
    await mesh.stop_resolver("store")
    body = await mesh.post("{ products { name sourceDatabase isStale } }")
    assert body["data"]["products"] == [{"name": "mirrored", "sourceDatabase": "mirror", "isStale": False}]
