"""`dbmesh reconcile` as a user runs it (docs/reference.md §13): the text report, exit codes 0 / 1 /
2, and every mistake as one line naming what and where, with exit 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from harness.servers import DatabaseInfo, free_port
from reconcile_world import Database, dbmesh, error_line, write_config


def _sqlite(path: Path, rows: list[tuple[object, ...]], id_type: str = "integer") -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE t (id {id_type} PRIMARY KEY, price numeric(10,2), name text)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    _sqlite(tmp_path / "a.db", [(1, 1.5, "one"), (2, 2.5, "two"), (3, 3.5, "three")])
    _sqlite(tmp_path / "b.db", [(1, 1.5, "one"), (2, 2.75, "two"), (4, 4.5, "four")])
    _sqlite(tmp_path / "c.db", [("1", 1.5, "one")], id_type="text")
    return write_config(
        tmp_path / "dbmesh.toml",
        Database.sqlite("a", tmp_path / "a.db"),
        Database.sqlite("b", tmp_path / "b.db"),
        Database.sqlite("c", tmp_path / "c.db"),
    )


def _reconcile(config: Path, *args: str) -> tuple[int, list[str]]:
    result = dbmesh("reconcile", "-c", str(config), *args)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


def test_text_report_and_exit_codes(config: Path) -> None:
    code, lines = _reconcile(config, "t", "--source", "a", "--target", "b")
    assert code == 1
    assert lines[:-1] == [
        "t: a (source) vs b (target)",
        "  same            1",
        "  only in source  1",
        "  only in target  1",
        "  different       1",
        "only in source: id=3",
        "only in target: id=4",
        "different: id=2 (price)",
    ]
    assert lines[-1].startswith("differ in ") and lines[-1].endswith("s")
    code, lines = _reconcile(config, "t", "--source", "a", "--target", "a", "--where", '{"id": {"_lt": 3}}')
    assert (code, lines[1], lines[-1].split(" in ")[0]) == (0, "  same            2", "equal")
    # The filter applies to both sides: without row 2 and the rows only in one, they are equal.
    code, _ = _reconcile(config, "t", "--source", "a", "--target", "b", "--where", '{"id": {"_in": [1]}}')
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["t", "--source", "a", "--target", "x"], "{config}: unknown database 'x' (known: a, b, c)"),
        (["nope", "--source", "a", "--target", "b"], "database 'a' has no table 'nope'"),
        (["t", "--source", "a", "--target", "b", "--target-table", "u"], "database 'b' has no table 'u'"),
        (
            ["t", "--source", "a", "--target", "b", "--columns", "price,colour"],
            "--columns: table 't' in database 'a' has no column 'colour'",
        ),
        (
            ["t", "--source", "a", "--target", "b", "--key", "ident"],
            "--key: table 't' in database 'a' has no column 'ident'",
        ),
        (
            ["t", "--source", "a", "--target", "c"],
            "key column 'id' differs in type: int in 'a' (INTEGER), string in 'c' (TEXT)",
        ),
        (
            ["t", "--source", "a", "--target", "b", "--where", "{id: 1}"],
            "--where is not JSON: unexpected character, expected a string key: line 1 column 2 (char 1)",
        ),
        (
            ["t", "--source", "a", "--target", "b", "--where", "[1]"],
            '--where must be a JSON object, e.g. {"status": {"_eq": "paid"}}',
        ),
        (
            ["t", "--source", "a", "--target", "b", "--where", '{"colour": {"_eq": 1}}'],
            "--where: unknown column 'colour' (compared tables have: id, price, name)",
        ),
        (
            ["t", "--source", "a", "--target", "b", "--where", '{"id": {"_between": 1}}'],
            "--where: where.id: unknown operator '_between' (known: _eq, _neq, _gt, _gte, _lt, _lte, _in, _nin,"
            " _like, _ilike, _is_null)",
        ),
        (
            ["t", "--source", "a", "--target", "b", "--where", '{"id": {"_eq": "abc"}}'],
            "database 'a' refused the request: column 'id' (INTEGER): 'abc' is not a valid value",
        ),
    ],
)
def test_mistakes_are_one_line_with_exit_2(config: Path, args: list[str], message: str) -> None:
    assert error_line(dbmesh("reconcile", "-c", str(config), *args)) == message.replace("{config}", str(config))


def test_bad_show_is_a_usage_error(config: Path) -> None:
    result = dbmesh("reconcile", "-c", str(config), "t", "--source", "a", "--target", "b", "--show", "-1")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith("argument --show: must not be negative (got -1)")


def test_unreachable_resolver_is_one_line_with_exit_2(tmp_path: Path, pg_database: DatabaseInfo) -> None:
    _sqlite(tmp_path / "a.db", [(1, 1.5, "one")])
    pg = Database.server("pg", pg_database)
    config = write_config(
        tmp_path / "dbmesh.toml",
        Database.sqlite("a", tmp_path / "a.db"),
        pg,
        pg={"resolver": f"127.0.0.1:{free_port()}", "timeout_secs": 2},
    )
    message = error_line(dbmesh("reconcile", "-c", str(config), "t", "--source", "a", "--target", "pg"))
    assert message == "database 'pg' is unavailable: its resolver cannot be reached"
