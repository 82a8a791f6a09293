"""Fixtures of the reconciliation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.servers import DatabaseInfo
from reconcile_world import Database


@pytest.fixture
def engines(pg_database: DatabaseInfo, mysql_database: DatabaseInfo, tmp_path: Path) -> dict[str, Database]:
    """A fresh PostgreSQL, MariaDB and SQLite database, by engine."""
    return {
        "postgresql": Database.server("pg", pg_database),
        "mysql": Database.server("maria", mysql_database),
        "sqlite": Database.sqlite("lite", tmp_path / "lite.db"),
    }
