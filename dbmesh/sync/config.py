"""The `[[sync]]` tables of the configuration (docs/reference.md §12): one `SyncJob` each.

What can be checked without a database is checked here, with errors naming the file and key
(`dbmesh.toml: sync[0].batch_size: ...`): unknown keys, names, the databases, mode, schedule
(cron, UTC, via croniter), batch size, safety margin and the shape of `where` (columns, operators,
relative times). Whether the table and columns exist, and whether a `where` value suits its
column's type, is checked when a job runs, against the source's schema (dbmesh.sync.where).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from dbmesh.errors import ConfigError
from dbmesh.where_operators import COMPARISONS

if TYPE_CHECKING:
    from dbmesh.config import DatabaseConfig, _Table

__all__ = ["COMPARISONS", "RELATIVE", "Cmp", "Node", "SyncJob", "parse_sync"]

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# now, now-30d, now-12h, today, today-1d (s, m, h, d; + as well as -)
RELATIVE = re.compile(r"(now|today)(?:([+-])([0-9]{1,6})([smhd]))?")
_KEYS = (
    "name",
    "source",
    "target",
    "table",
    "target_table",
    "key",
    "cursor",
    "where",
    "mode",
    "schedule",
    "batch_size",
    "safety_margin",
)
MODES = ("copy", "move")
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 100_000
DEFAULT_SAFETY_MARGIN = 300.0


@dataclass(frozen=True)
class Cmp:
    """One comparison of `where`: `path` is its key in the config (`sync[0].where.status._eq`)."""

    column: str
    operator: str
    value: Any
    path: str


@dataclass(frozen=True)
class Node:
    """`and` / `or` of `children`, or `not` of its only child."""

    kind: str
    children: tuple[Node | Cmp, ...]


@dataclass(frozen=True)
class SyncJob:
    name: str
    source: str
    target: str
    table: str
    target_table: str
    key: tuple[str, ...] | None  # None: the source table's primary key
    cursor: str | None  # None: every run reads the whole table (matching `where`)
    where: Node  # an `and` (empty: every row)
    mode: str  # copy | move
    schedule: str | None
    batch_size: int
    safety_margin: float  # in the cursor's unit: seconds for date/datetime cursors
    path: str  # where it is in the config: "sync[0]"
    source_file: str  # the config file

    def error(self, problem: str, key: str | None = None) -> ConfigError:
        where = f"{self.path}.{key}" if key else self.path
        return ConfigError(f"{self.source_file}: {where}: {problem}")


def parse_sync(tables: Sequence[_Table], databases: Sequence[DatabaseConfig]) -> tuple[SyncJob, ...]:
    by_name = {d.name: d for d in databases}
    seen: set[str] = set()
    jobs = []
    for table in tables:
        job = _parse_job(table, by_name)
        if job.name in seen:
            raise table.error(f"duplicate sync job name {job.name!r}", "name")
        seen.add(job.name)
        jobs.append(job)
    return tuple(jobs)


def _parse_job(table: _Table, databases: Mapping[str, DatabaseConfig]) -> SyncJob:
    table.check_keys(_KEYS)
    name = table.required_string("name")
    if not _NAME.fullmatch(name):
        raise table.error(f"must match [a-z_][a-z0-9_]*, got {name!r}", "name")
    source = _database(table, "source", databases)
    target = _database(table, "target", databases)
    if source.name == target.name:
        raise table.error(f"source and target are the same database {source.name!r}", "target")
    mode = table.string("mode") or "copy"
    if mode not in MODES:
        raise table.error(f"expected 'copy' or 'move', got {mode!r}", "mode")
    if mode == "move":
        if source.read_only:
            raise table.error(f"database {source.name!r} is read_only; mode 'move' deletes from it", "source")
        if target.read_only:
            raise table.error(
                f"database {target.name!r} is read_only; mode 'move' commits into it by two-phase commit, which"
                " dbmesh recovers only in writable databases (use mode 'copy')",
                "target",
            )
        if source.engine == "sqlite" and target.engine == "sqlite":
            raise table.error(
                "mode 'move' between two SQLite databases cannot be one atomic step (SQLite cannot prepare"
                " a transaction for two-phase commit)",
                "mode",
            )
    name_of_table = _identifier(table, "table", table.required_string("table"))
    target_table = _identifier(table, "target_table", table.string("target_table") or name_of_table)
    cursor = table.string("cursor")
    if cursor is not None:
        cursor = _identifier(table, "cursor", cursor)
    schedule = table.string("schedule")
    if schedule is not None:
        _check_cron(table, schedule)
    return SyncJob(
        name=name,
        source=source.name,
        target=target.name,
        table=name_of_table,
        target_table=target_table,
        key=_key(table),
        cursor=cursor,
        where=_where(table),
        mode=mode,
        schedule=schedule,
        batch_size=table.integer("batch_size", DEFAULT_BATCH_SIZE, minimum=1, maximum=MAX_BATCH_SIZE),
        safety_margin=_margin(table),
        path=table.path,
        source_file=table.source,
    )


def _database(table: _Table, key: str, databases: Mapping[str, DatabaseConfig]) -> DatabaseConfig:
    name = table.required_string(key)
    found = databases.get(name)
    if found is None:
        raise table.error(f"unknown database {name!r} (known: {', '.join(databases)})", key)
    return found


def _identifier(table: _Table, key: str, value: str) -> str:
    if not _COLUMN.fullmatch(value):
        raise table.error(f"not a table or column name: {value!r}", key)
    return value


def _key(table: _Table) -> tuple[str, ...] | None:
    value = table.values.get("key")
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise table.wrong_type("key", "a non-empty array of column names", value)
    for column in value:
        _identifier(table, "key", column)
    if len(set(value)) != len(value):
        raise table.error(f"a column is named twice: {value!r}", "key")
    return tuple(value)


def _margin(table: _Table) -> float:
    value = table.values.get("safety_margin")
    if value is None:
        return DEFAULT_SAFETY_MARGIN
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise table.error(f"expected a number of at least 0 (seconds, or cursor units), got {value!r}", "safety_margin")
    return float(value)


def _check_cron(table: _Table, schedule: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(schedule) or len(schedule.split()) not in (5, 6):
        raise table.error(
            f"not a cron schedule (minute hour day month weekday [second], UTC): {schedule!r}", "schedule"
        )


def _where(table: _Table) -> Node:
    value = table.values.get("where")
    if value is None:
        return Node("and", ())
    return _where_table(table, value, f"{table.path}.where")


def _where_table(table: _Table, value: Any, path: str) -> Node:
    if not isinstance(value, dict):
        raise _where_error(table, path, f"expected a table, got {_type(value)}")
    children: list[Node | Cmp] = []
    for key, item in value.items():
        where = f"{path}.{key}"
        if key in ("_and", "_or"):
            if not isinstance(item, list):
                raise _where_error(table, where, f"expected an array of tables, got {_type(item)}")
            branches = tuple(_where_table(table, b, f"{where}[{i}]") for i, b in enumerate(item))
            children.append(Node(key[1:], branches))
        elif key == "_not":
            children.append(Node("not", (_where_table(table, item, where),)))
        elif key.startswith("_"):
            raise _where_error(table, where, "unknown operator (expected a column, _and, _or or _not)")
        elif not _COLUMN.fullmatch(key):
            raise _where_error(table, where, "not a column name")
        else:
            children.extend(_comparisons(table, key, item, where))
    return Node("and", tuple(children))


def _comparisons(table: _Table, column: str, value: Any, path: str) -> list[Cmp]:
    if not isinstance(value, dict) or not value:
        raise _where_error(table, path, f"expected a table of operators (e.g. {{ _eq = ... }}), got {_type(value)}")
    found = []
    for operator, operand in value.items():
        where = f"{path}.{operator}"
        if operator not in COMPARISONS:
            raise _where_error(table, where, f"unknown operator (known: {', '.join(COMPARISONS)})")
        if operator in ("_in", "_nin") and not isinstance(operand, list):
            raise _where_error(table, where, f"expected an array, got {_type(operand)}")
        if operator == "_is_null" and not isinstance(operand, bool):
            raise _where_error(table, where, f"expected true or false, got {_type(operand)}")
        if isinstance(operand, dict):
            raise _where_error(table, where, "expected a value, got a table")
        for item in operand if isinstance(operand, list) else [operand]:
            if isinstance(item, str) and item.startswith(("now", "today")) and not RELATIVE.fullmatch(item):
                raise _where_error(table, where, f"not a relative time (e.g. now-30d, now-12h, today-1d): {item!r}")
        found.append(Cmp(column, operator, operand, where))
    return found


def _where_error(table: _Table, path: str, problem: str) -> ConfigError:
    return ConfigError(f"{table.source}: {path}: {problem}")


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime):
        return "a datetime"
    if isinstance(value, date):
        return "a date"
    return repr(value)
