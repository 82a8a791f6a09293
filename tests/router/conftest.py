"""A mesh over the demo's three SQLite databases, for router tests through real HTTP and gRPC."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness.mesh import InProcessMesh

from dbmesh.demo import prepare

CACHE_ONLY_ID = "00000000-0000-4000-8000-000000009999"


def demo_databases(data: Path) -> dict[str, dict[str, object]]:
    return {
        "primary": {"engine": "sqlite", "path": str(data / "primary.db")},
        "historical": {"engine": "sqlite", "path": str(data / "historical.db"), "read_only": True},
        "cache": {"engine": "sqlite", "path": str(data / "cache.db"), "read_only": True},
    }


def prepare_demo(data: Path) -> Path:
    """The demo data, plus one customer only the cache has (a row not migrated yet)."""
    _, schema = prepare(data)
    conn = sqlite3.connect(data / "cache.db")
    conn.execute(
        "INSERT INTO customers VALUES (?, 'cached@example.com', 'Only In Cache', '2020-01-01 00:00:00')",
        (CACHE_ONLY_ID,),
    )
    conn.commit()
    conn.close()
    return schema


@pytest.fixture(scope="module")
async def demo_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    data = tmp_path_factory.mktemp("demo")
    schema = prepare_demo(data)
    mesh = await InProcessMesh(demo_databases(data), schema).start()
    yield mesh
    await mesh.stop()
