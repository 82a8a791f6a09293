"""Output for scripts (docs/reference.md §2): `dbmesh --version` from the package metadata and
`dbmesh check --json`, one JSON document per run, on the demo's SQLite databases."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from dbmesh.demo import prepare

REPO = Path(__file__).resolve().parents[2]


def dbmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dbmesh", *args], capture_output=True, text=True, cwd=REPO, timeout=60)


def test_version_is_the_package_metadata() -> None:
    result = dbmesh("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"dbmesh {version('dbmesh')}\n"
    assert version("dbmesh") == "0.1.0"


def test_check_json_reports_every_database_and_the_schema(tmp_path: Path) -> None:
    config, schema = prepare(tmp_path)
    result = dbmesh("check", "--json", "-c", str(config), "-s", str(schema))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["offline"] is False
    assert [(d["name"], d["engine"], d["ok"], d["connected"], d["problems"]) for d in report["databases"]] == [
        ("postgres_primary", "sqlite", True, True, []),
        ("mysql_historical", "sqlite", True, True, []),
        ("sqlite_cache", "sqlite", True, True, []),
    ]
    assert report["databases"][2]["description"] == f"sqlite_cache (sqlite, {tmp_path}/cache.db)"
    assert all(isinstance(d["tables"], int) and d["tables"] > 0 for d in report["databases"])
    assert report["schema"] == {"path": str(schema), "types": 5, "root_fields": 5, "warnings": []}


def test_check_json_names_each_problem_and_exits_1(tmp_path: Path) -> None:
    config, schema = prepare(tmp_path)
    with sqlite3.connect(tmp_path / "cache.db") as conn:
        conn.execute("ALTER TABLE customers DROP COLUMN email")
    (tmp_path / "historical.db").unlink()
    result = dbmesh("check", "--json", "-c", str(config), "-s", str(schema))
    assert result.returncode == 1
    databases = {d["name"]: d for d in json.loads(result.stdout)["databases"]}
    assert databases["postgres_primary"]["ok"] is True
    assert databases["sqlite_cache"] == {
        "name": "sqlite_cache",
        "engine": "sqlite",
        "description": f"sqlite_cache (sqlite, {tmp_path}/cache.db)",
        "ok": False,
        "connected": True,
        "tables": databases["sqlite_cache"]["tables"],
        "problems": [
            "Customer (served by Query.customers): table 'customers' in database 'sqlite_cache' has no column 'email'"
        ],
    }
    historical = databases["mysql_historical"]
    assert (historical["ok"], historical["connected"], historical["tables"]) == (False, False, None)
    assert "unable to open database file" in historical["problems"][0]


def test_check_json_offline_connects_nowhere(tmp_path: Path) -> None:
    config, schema = prepare(tmp_path)
    (tmp_path / "historical.db").unlink()
    result = dbmesh("check", "--json", "--offline", "-c", str(config), "-s", str(schema))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["offline"] is True
    assert [(d["ok"], d["connected"], d["tables"]) for d in report["databases"]] == [(True, None, None)] * 3


def test_check_json_on_a_config_that_does_not_load_is_a_document_and_a_line(tmp_path: Path) -> None:
    config, schema = prepare(tmp_path)
    config.write_text(config.read_text().replace("[router]", "[router]\nport = 'x'", 1))
    result = dbmesh("check", "--json", "-c", str(config), "-s", str(schema))
    assert result.returncode == 1
    error = f"{config}: router.port: expected an integer, got a string ('x')"
    assert json.loads(result.stdout) == {"ok": False, "error": error}
    assert result.stderr.strip() == f"dbmesh: error: {error}"
