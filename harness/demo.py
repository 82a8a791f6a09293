"""The demo's three SQLite databases as a test mesh: the router tests' data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
