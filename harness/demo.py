"""The demo's three SQLite databases as a test mesh: the router tests' data."""

from __future__ import annotations

import sqlite3
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from dbmesh.demo import prepare

CACHE_ONLY_ID = "00000000-0000-4000-8000-000000009999"


def demo_databases(data: Path) -> dict[str, dict[str, Any]]:
    """The `[[databases]]` of the config `dbmesh demo` ships (name -> keys), with each file's path
    under `data`: the mesh runs exactly the demo's databases, not a description of them."""
    config = tomllib.loads(resources.files("dbmesh.demo").joinpath("dbmesh.toml").read_text(encoding="utf-8"))
    return {
        entry["name"]: {**{k: v for k, v in entry.items() if k != "name"}, "path": str(data / entry["path"])}
        for entry in config["databases"]
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
