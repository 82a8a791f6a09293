"""Tables for the reconciliation tests on each engine, filled with engine-native SQL (not through
dbmesh), a configuration naming them, and the `dbmesh reconcile` command as a user runs it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
from harness.config import config_toml, server_settings
from harness.servers import DatabaseInfo

REPO = Path(__file__).resolve().parents[2]

# The value cases of one table, per engine: each column holds the same data in the engine's own
# type, so that only canonical values can make them equal.
TYPES = {
    "postgresql": {
        "int": "integer",
        "price": "numeric(10,2)",
        "at": "timestamptz",
        "text": "text",
        "flag": "boolean",
        "uuid": "uuid",
        "score": "double precision",
    },
    "mysql": {
        "int": "integer",
        "price": "decimal(10,2)",
        "at": "datetime(6)",
        "text": "varchar(100)",
        "flag": "boolean",
        "uuid": "char(36)",
        "score": "double",
    },
    "sqlite": {
        "int": "integer",
        "price": "real",
        "at": "timestamp",
        "text": "text",
        "flag": "boolean",
        "uuid": "uuid",  # stored as text; the declared type makes it a UUID column
        "score": "real",
    },
}


class Database:
    """One database of a test: a name in the config, its keys, and plain SQL against it."""

    def __init__(self, name: str, engine: str, settings: dict[str, Any], info: DatabaseInfo | None = None) -> None:
        self.name = name
        self.engine = engine
        self.settings = settings
        self.info = info

    @classmethod
    def sqlite(cls, name: str, path: Path) -> Database:
        return cls(name, "sqlite", {"engine": "sqlite", "path": str(path)})

    @classmethod
    def server(cls, name: str, info: DatabaseInfo) -> Database:
        return cls(name, info.engine, server_settings(info), info)

    def t(self, kind: str) -> str:
        return TYPES[self.engine][kind]

    async def run(self, *statements: str, rows: Sequence[Sequence[Any]] = (), insert: str = "") -> None:
        """Run `statements`, then `insert` (with `?` placeholders) once per row of `rows`."""
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.settings["path"])
            try:
                for sql in statements:
                    conn.execute(sql)
                if rows:
                    conn.executemany(insert, rows)
                conn.commit()
            finally:
                conn.close()
            return
        info = self.info
        assert info is not None
        if self.engine == "postgresql":
            pg = await asyncpg.connect(host=info.host, port=info.port, user=info.user, database=info.database)
            try:
                for sql in statements:
                    await pg.execute(sql)
                if rows:
                    numbered = insert
                    for i in range(1, insert.count("?") + 1):
                        numbered = numbered.replace("?", f"${i}", 1)
                    await pg.executemany(numbered, rows)
            finally:
                await pg.close()
            return
        my = await aiomysql.connect(
            host=info.host, port=info.port, user=info.user, password=info.password, db=info.database, autocommit=True
        )
        try:
            async with my.cursor() as cur:
                for sql in statements:
                    await cur.execute(sql)
                if rows:
                    await cur.executemany(insert.replace("?", "%s"), rows)
        finally:
            my.close()


def write_config(path: Path, *databases: Database, **extra: dict[str, Any]) -> Path:
    path.write_text(config_toml({d.name: {**d.settings, **extra.get(d.name, {})} for d in databases}))
    return path


def dbmesh(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbmesh", *args], capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


def reconcile_json(config: Path, table: str, source: str, target: str, *args: str) -> tuple[int, dict[str, Any]]:
    """`dbmesh reconcile ... --json`: the exit code and the document, without its `seconds`."""
    result = dbmesh("reconcile", "-c", str(config), table, "--source", source, "--target", target, "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document.pop("seconds"), float)
    return result.returncode, document


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line error of a failed `dbmesh reconcile` (exit 2, no traceback)."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dbmesh: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("dbmesh: error: ")
