"""Bad `[[sync]]` settings (docs/reference.md §12): each is one line naming the file and key, from
loading the config (`dbmesh sync run` exits 1 with it) or, for what only the source's schema can
tell (tables, columns, types), in the job's FAILED line of a run against real servers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sync_world import MYSQL, PG, Orders, cli, run

from dbmesh.config import parse_config
from dbmesh.errors import ConfigError

DATABASES = """
[[databases]]
name = "pg"
engine = "postgresql"
host = "h"
database = "d"
username = "u"
[[databases]]
name = "my"
engine = "mysql"
host = "h"
database = "d"
username = "u"
[[databases]]
name = "ro"
engine = "mysql"
host = "h"
database = "d"
username = "u"
read_only = true
[[databases]]
name = "lite"
engine = "sqlite"
path = "a.db"
[[databases]]
name = "lite2"
engine = "sqlite"
path = "b.db"
"""
JOB = 'name = "j"\nsource = "pg"\ntarget = "my"\ntable = "t"\n'

CASES = [
    (JOB + 'cursr = "x"', "sync[0]: unknown key 'cursr' (did you mean 'cursor'?)"),
    ('name = "j"\nsource = "pg"\ntarget = "my"', "sync[0]: missing required key 'table'"),
    (JOB.replace('"j"', '"Job"'), "sync[0].name: must match [a-z_][a-z0-9_]*, got 'Job'"),
    (JOB.replace('"pg"', '"pgx"'), "sync[0].source: unknown database 'pgx' (known: pg, my, ro, lite, lite2)"),
    (JOB.replace('"my"', '"pg"'), "sync[0].target: source and target are the same database 'pg'"),
    (JOB + 'mode = "mirror"', "sync[0].mode: expected 'copy' or 'move', got 'mirror'"),
    (
        JOB.replace('"pg"', '"ro"') + 'mode = "move"',
        "sync[0].source: database 'ro' is read_only; mode 'move' deletes from it",
    ),
    (
        JOB.replace('"my"', '"ro"') + 'mode = "move"',
        "sync[0].target: database 'ro' is read_only; mode 'move' commits into it by two-phase commit, which"
        " dbmesh recovers only in writable databases (use mode 'copy')",
    ),
    (
        JOB.replace('"pg"', '"lite"').replace('"my"', '"lite2"') + 'mode = "move"',
        "sync[0].mode: mode 'move' between two SQLite databases cannot be one atomic step (SQLite cannot"
        " prepare a transaction for two-phase commit)",
    ),
    (
        JOB + 'schedule = "0 25 * * *"',
        "sync[0].schedule: not a cron schedule (minute hour day month weekday [second], UTC): '0 25 * * *'",
    ),
    (JOB + "batch_size = 0", "sync[0].batch_size: must be between 1 and 100000, got 0"),
    (JOB + 'batch_size = "lots"', "sync[0].batch_size: expected an integer, got a string ('lots')"),
    (
        JOB + "safety_margin = -1",
        "sync[0].safety_margin: expected a number of at least 0 (seconds, or cursor units), got -1",
    ),
    (JOB + "key = []", "sync[0].key: expected a non-empty array of column names, got an array"),
    (
        JOB + 'where = { status = { _equals = "x" } }',
        "sync[0].where.status._equals: unknown operator (known: _eq, _neq, _gt, _gte, _lt, _lte, _in, _nin,"
        " _like, _ilike, _is_null)",
    ),
    (
        JOB + 'where = { created_at = { _lt = "now-30days" } }',
        "sync[0].where.created_at._lt: not a relative time (e.g. now-30d, now-12h, today-1d): 'now-30days'",
    ),
    (JOB + "where = { id = { _in = 3 } }", "sync[0].where.id._in: expected an array, got 3"),
    (
        JOB + 'where = { status = "x" }',
        "sync[0].where.status: expected a table of operators (e.g. { _eq = ... }), got 'x'",
    ),
    (
        JOB + 'where = { _or = { status = { _eq = "x" } } }',
        "sync[0].where._or: expected an array of tables, got a table",
    ),
    (JOB + "[[sync]]\n" + JOB, "sync[1].name: duplicate sync job name 'j'"),
]


@pytest.mark.parametrize(("job", "message"), CASES, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(CASES)])
def test_a_bad_sync_table_is_one_line_naming_the_key(job: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(DATABASES + "[[sync]]\n" + job, source="dbmesh.toml")
    assert str(raised.value) == f"dbmesh.toml: {message}"


def test_a_read_only_target_is_allowed_for_copy() -> None:
    config = parse_config(DATABASES + "[[sync]]\n" + JOB.replace('"my"', '"ro"'), source="dbmesh.toml")
    assert config.sync[0].target == "ro"


def test_dbmesh_sync_run_exits_1_with_the_config_error_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "dbmesh.toml"
    path.write_text(DATABASES + "[[sync]]\n" + JOB + "batch_size = 0\n", encoding="utf-8")
    done = cli("sync", "run", "-c", str(path))
    assert done.returncode == 1
    assert done.stderr == f"dbmesh: error: {path}: sync[0].batch_size: must be between 1 and 100000, got 0\n"
    unknown = cli("sync", "run", "-c", str(path.with_name("none.toml")))
    assert unknown.stderr == f"dbmesh: error: {path.with_name('none.toml')}: configuration file not found\n"


ARCHIVE = {"name": "archive", "source": PG, "target": MYSQL, "table": "orders", "cursor": "created_at"}

RUN_CASES = [
    ({"table": "ordres"}, "sync[0].table: database 'postgres_primary' has no table 'ordres'"),
    (
        {"target_table": "archive"},
        "sync[0].target_table: database 'mysql_historical' has no table 'archive'",
    ),
    ({"cursor": "made_at"}, "sync[0].cursor: table 'orders' of database 'postgres_primary' has no column 'made_at'"),
    (
        {"cursor": "note"},
        "sync[0].cursor: column 'note' of table 'orders' accepts NULL; a cursor column must be NOT NULL",
    ),
    ({"key": ["ident"]}, "sync[0].key: table 'orders' of database 'postgres_primary' has no column 'ident'"),
    (
        {"where": '{ state = { _eq = "completed" } }'},
        "sync[0].where.state._eq: table 'orders' of database 'postgres_primary' has no column 'state'",
    ),
    (
        {"where": '{ total = { _like = "1%" } }'},
        "sync[0].where.total._like: _like does not apply to decimal column 'total'",
    ),
    (
        {"where": '{ customer_id = { _eq = "seven" } }'},
        "sync[0].where.customer_id._eq: expected an integer, got 'seven' (column 'customer_id' is of type integer)",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), RUN_CASES, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(RUN_CASES)]
)
async def test_what_only_the_schema_tells_fails_the_job_naming_the_key(
    orders: Orders, change: dict[str, object], message: str
) -> None:
    config = orders.config({**ARCHIVE, **change})

    code, output = await run(config)

    assert code == 1
    failed = r"sync archive: FAILED after \d+\.\d\d s \(0 rows copied, 0 rows deleted\): "
    assert re.fullmatch(failed + re.escape(f"{config}: {message}") + "\n", output), output
