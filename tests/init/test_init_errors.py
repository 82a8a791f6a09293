"""`dbmesh init`'s refusals (docs/reference.md §15, §2): each is exit 1 and one exact line on
stderr, never a traceback, and leaves no file behind (or the existing one untouched)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ddl
from harness.config import config_toml
from harness.mesh import REPO
from harness.servers import free_port


def dbmesh(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbmesh", "--log-level", "warning", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()[-1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A SQLite database with the deployed tables and its configuration, dbmesh.toml."""
    with sqlite3.connect(tmp_path / "cache.db") as conn:
        conn.executescript(ddl.SQLITE.read_text(encoding="utf-8"))
    (tmp_path / "dbmesh.toml").write_text(config_toml({"cache": {"engine": "sqlite", "path": "cache.db"}}))
    return tmp_path


def test_an_existing_output_is_refused_without_force_and_replaced_with_it(folder: Path) -> None:
    (folder / "schema.py").write_text("# mine\n")
    refused = dbmesh("init", "-c", "dbmesh.toml", cwd=folder)
    assert last_line(refused) == "dbmesh: error: schema.py: already exists; pass --force to overwrite it"
    assert refused.stdout == ""
    assert (folder / "schema.py").read_text() == "# mine\n"
    forced = dbmesh("init", "-c", "dbmesh.toml", "--force", cwd=folder)
    assert forced.returncode == 0, forced
    assert forced.stdout == "wrote schema.py: 4 types, 6 relations, 8 root fields from 1 database\n"
    assert "class OrderItem:" in (folder / "schema.py").read_text()


def test_an_output_folder_that_does_not_exist(folder: Path) -> None:
    result = dbmesh("init", "-c", "dbmesh.toml", "-o", "missing/schema.py", cwd=folder)
    assert last_line(result) == "dbmesh: error: missing/schema.py: cannot write: No such file or directory"


def test_a_configuration_that_does_not_exist(folder: Path) -> None:
    result = dbmesh("init", "-c", "other.toml", cwd=folder)
    assert last_line(result) == "dbmesh: error: other.toml: configuration file not found"
    assert not (folder / "schema.py").exists()


def test_a_database_that_is_down_is_named_with_the_resolvers_reason(folder: Path) -> None:
    (folder / "down.toml").write_text(
        config_toml(
            {
                "pg": {
                    "engine": "postgresql",
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "database": "x",
                    "username": "u",
                    "password": "s3cret-pw",
                },
                "cache": {"engine": "sqlite", "path": "cache.db"},
            }
        )
    )
    result = dbmesh("init", "-c", "down.toml", cwd=folder)
    assert last_line(result) == "dbmesh: error: cannot introspect: database 'pg' is unavailable: connection refused"
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert not (folder / "schema.py").exists()


def test_running_needs_every_resolver_address(folder: Path) -> None:
    result = dbmesh("init", "-c", "dbmesh.toml", "--running", cwd=folder)
    assert last_line(result) == (
        "dbmesh: error: dbmesh.toml: database 'cache' has no 'resolver' address "
        "(dbmesh init --running asks the resolvers there)"
    )


def test_running_with_no_resolver_at_the_address(folder: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    (folder / "dbmesh.toml").write_text(
        config_toml({"cache": {"engine": "sqlite", "path": "cache.db", "resolver": address}})
    )
    result = dbmesh("init", "-c", "dbmesh.toml", "--running", cwd=folder)
    assert (
        last_line(result)
        == "dbmesh: error: cannot introspect: database 'cache' is unavailable: its resolver cannot be reached"
    )
    assert not (folder / "schema.py").exists()
