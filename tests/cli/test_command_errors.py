"""Command mistakes a user makes, each one line naming what is wrong, exit 1, no traceback
(docs/reference.md §2)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from harness.config import database_toml

REPO = Path(__file__).resolve().parents[2]


def test_a_taken_port_is_one_line_naming_the_address(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    config = tmp_path / "dbmesh.toml"
    config.write_text(database_toml("x", {"engine": "sqlite", "path": str(db)}), encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "dbmesh", "resolver", "-c", str(config), "--database", "x", "--listen", address],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"dbmesh: error: cannot listen on {address}"
    assert "Traceback" not in result.stderr


def test_check_offline_refuses_a_mutation_on_a_read_only_database(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    config = tmp_path / "dbmesh.toml"
    config.write_text(database_toml("x", {"engine": "sqlite", "path": str(db), "read_only": True}), encoding="utf-8")
    schema = tmp_path / "schema.py"
    schema.write_text(
        "from dbmesh import database, types\n\n\n"
        "@types.object\nclass Thing:\n    name: str\n\n\n"
        "@types.object\nclass Query:\n    @database('x')\n    def things(self) -> list[Thing]: ...\n\n\n"
        "@types.object\nclass Mutation:\n    @database('x')\n    def insert_things(self) -> list[Thing]: ...\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "dbmesh", "check", "--offline", "-c", str(config), "-s", str(schema)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dbmesh: error: {schema}: Mutation.insert_things: database 'x' is read_only: the API never writes there"
    )
