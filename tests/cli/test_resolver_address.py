"""`dbmesh resolver` on an address it cannot listen on: one line naming it, exit 1, no traceback
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
