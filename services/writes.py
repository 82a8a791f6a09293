"""Compile and run a contract `MutateRequest`: insert, upsert, update, delete, with returning.

Every write names its rows by a predicate or by values, all bound; an update or delete without a
predicate is refused (a predicate that matches nothing changes nothing, and nothing widens a
write beyond what its predicate matches). Where an engine cannot return rows from a statement
(MariaDB's UPDATE), the rows are locked and named by primary key first, in the same transaction.

An update's `inc` adds bound amounts to numeric columns (`col = col + $n`, the same on every
engine); a column is either set or incremented, never both.

Upserts (docs/reference.md §10) mean the same on every engine:
- the conflict columns must be the primary key or a unique key of the table (else
  INVALID_ARGUMENT), and every row must set them;
- a row whose key exists takes the update columns; update columns that are all conflict columns
  (or none, when the row sets only its key) leave it as it is (DO NOTHING): it is neither counted
  nor returned;
- a conflict on any OTHER unique key is a unique violation (ALREADY_EXISTS), as PostgreSQL's and
  SQLite's `ON CONFLICT (cols)` have it.
MySQL's `ON DUPLICATE KEY UPDATE` cannot name its conflict columns (it fires on any unique key),
so where the dialect has no `named_conflict`, the upsert runs as separate statements inside the
caller's transaction: lock the rows that hold the incoming keys (`SELECT ... FOR UPDATE`), insert
the rows whose key is new with a plain INSERT (a duplicate on another key then fails), update
those whose key exists by key, and read the written rows back by key, in input order. Where
ON DUPLICATE KEY cannot fire on another key and means exactly the same (`_any_key_upsert_exact`:
the conflict columns are the table's only unique key, compared exactly, nothing is returned, ...),
the upsert is one multi-row `INSERT ... ON DUPLICATE KEY UPDATE` per chunk instead (a sync batch,
dbmesh.sync, is such an upsert).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import CollectionInfo, ColumnInfo, Logical
from dbmesh.services.compiler import compile_predicate
from dbmesh.services.dialects.base import Dialect, Params
from dbmesh.services.engines.base import Connection
from dbmesh.services.errors import InvalidArgument
from dbmesh.services.values import from_proto, reader

__all__ = ["WriteResult", "run_mutation"]


@dataclass
class WriteResult:
    affected: int = 0
    rows: list[list[Any]] = field(default_factory=list)
    statements: list[pb.Statement] = field(default_factory=list)


class _Runner:
    """Runs statements on one connection, recording each for the trace."""

    def __init__(self, conn: Connection, result: WriteResult) -> None:
        self.conn = conn
        self.result = result

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        start = time.perf_counter()
        rows = await self.conn.fetch(sql, params)
        self._record(sql, start, len(rows))
        return rows

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        start = time.perf_counter()
        count = await self.conn.execute(sql, params)
        self._record(sql, start, count)
        return count

    def _record(self, sql: str, start: float, rows: int) -> None:
        elapsed = (time.perf_counter() - start) * 1000
        self.result.statements.append(pb.Statement(sql=sql, time_ms=elapsed, rows=rows))


def _readers(returning: Sequence[pb.ColumnRef], collection: CollectionInfo) -> list[Callable[[Any], Any]]:
    return [reader(Logical(c.type), collection.column(c.name)) for c in returning]


def _predicate(expr: pb.Expression, what: str, d: Dialect, coll: CollectionInfo, params: Params) -> str:
    where = compile_predicate(expr, d, coll, params) if expr.WhichOneof("kind") else None
    if not where:
        raise InvalidArgument(f"{what} on {coll.name!r} needs a predicate")
    return where


def _row_columns(rows: Sequence[pb.Row], collection: CollectionInfo) -> list[ColumnInfo]:
    if not rows:
        raise InvalidArgument(f"an insert into {collection.name!r} needs at least one row")
    names = list(rows[0].values.keys())
    expected = set(names)
    for index, row in enumerate(rows):
        if set(row.values) != expected:  # iterating the map itself: half the cost of .keys()
            raise InvalidArgument(f"row {index} of the insert into {collection.name!r} has other columns than row 0")
    if not names:
        raise InvalidArgument(f"an insert into {collection.name!r} needs at least one column")
    return [collection.column(n) for n in names]


# Logical types whose Value field holds the Python value as it is (from_proto returns it unchanged).
_PLAIN_FIELDS = {Logical.INT: "int", Logical.FLOAT: "float", Logical.STRING: "string", Logical.BOOLEAN: "boolean"}


def _value_binder(d: Dialect, column: ColumnInfo) -> Callable[[pb.Value], Any]:
    """`d.bind(column, from_proto(value))` for many values of `column` (a batch's rows), reading
    the field of the column's own type directly when the value has it."""
    bind = d.binder(column)
    plain = _PLAIN_FIELDS.get(column.logical)
    if plain is None:
        return lambda v: bind(from_proto(v))
    field: str = plain

    def value(v: pb.Value) -> Any:
        return bind(getattr(v, field) if v.WhichOneof("kind") == field else from_proto(v))

    return value


def _insert_sql(
    d: Dialect, collection: CollectionInfo, columns: list[ColumnInfo], rows: Sequence[pb.Row], params: Params
) -> str:
    binders = [(c.name, _value_binder(d, c)) for c in columns]
    bound = [bind(values[name]) for row in rows for values in (row.values,) for name, bind in binders]
    placeholders = params.extend(bound)
    width = len(columns)
    values = ", ".join("(" + ", ".join(placeholders[i : i + width]) + ")" for i in range(0, len(placeholders), width))
    cols = ", ".join(d.column(c) for c in columns)
    return f"INSERT INTO {d.quote(collection.name)} ({cols}) VALUES {values}"


_NUMERIC = (Logical.INT, Logical.FLOAT, Logical.DECIMAL)


def _update_columns(update: pb.Update, collection: CollectionInfo) -> list[ColumnInfo]:
    """The checked columns an update sets or increments (`inc`: numeric columns only, never
    NULL, never also set)."""
    if not update.set and not update.inc:
        raise InvalidArgument(f"an update of {collection.name!r} needs columns to set or increment")
    both = sorted(set(update.set) & set(update.inc))
    if both:
        raise InvalidArgument(f"an update of {collection.name!r} both sets and increments {both[0]!r}")
    for name, amount in update.inc.items():
        column = collection.column(name)
        if column.logical not in _NUMERIC:
            raise InvalidArgument(
                f"inc of {collection.name}.{column.name}: the column is {column.logical.name.lower()}, not a number"
            )
        if amount.WhichOneof("kind") in (None, "null"):
            raise InvalidArgument(f"inc of {collection.name}.{column.name} needs a number, not null")
    return [collection.column(name) for name in [*update.set, *update.inc]]


def _assignments(update: pb.Update, columns: list[ColumnInfo], d: Dialect, params: Params) -> str:
    """`col = $n` for each set column, `col = col + $n` for each incremented one, all bound."""
    parts = []
    for c in columns:
        if c.name in update.inc:
            parts.append(f"{d.column(c)} = {d.column(c)} + {params.bind(c, from_proto(update.inc[c.name]))}")
        else:
            parts.append(f"{d.column(c)} = {params.bind(c, from_proto(update.set[c.name]))}")
    return ", ".join(parts)


async def run_mutation(
    request: pb.MutateRequest, collection: CollectionInfo, dialect: Dialect, conn: Connection
) -> WriteResult:
    """Run `request` on `conn` (inside a transaction the caller opened)."""
    result = WriteResult()
    runner = _Runner(conn, result)
    returning = [collection.column(c.name) for c in request.returning]
    read = _readers(request.returning, collection)
    returning_sql = ", ".join(dialect.column(c) for c in returning)
    operation = request.WhichOneof("operation")
    if operation is None:
        raise InvalidArgument("a mutation needs an operation (insert, upsert, update or delete)")
    if collection.is_view:
        raise InvalidArgument(f"{collection.name!r} is a view; writes go to tables")

    async def run(sql: str, params: Params, returns: bool) -> None:
        if returning and returns:
            rows = await runner.fetch(f"{sql} RETURNING {returning_sql}", params.values)
            result.affected += len(rows)
            result.rows += [[r(v) for r, v in zip(read, row, strict=True)] for row in rows]
        else:
            result.affected += await runner.execute(sql, params.values)

    if operation in ("insert", "upsert"):
        op = getattr(request, operation)
        columns = _row_columns(op.rows, collection)
        if (
            operation == "upsert"
            and not dialect.named_conflict
            and not _any_key_upsert_exact(request, collection, dialect, columns)
        ):
            await _upsert_by_key(request, collection, dialect, runner, result, columns, read)
            return result
        suffix = ""
        if operation == "upsert":
            suffix = _upsert_suffix(dialect, collection, columns, op)
        per_row = len(columns)
        step = max(1, dialect.max_params // per_row)
        for start in range(0, len(op.rows), step):
            chunk = op.rows[start : start + step]
            params = Params(dialect)
            sql = _insert_sql(dialect, collection, columns, chunk, params)
            before = result.affected
            await run(sql + suffix, params, dialect.insert_returning)
            if operation == "upsert":
                result.affected = before + dialect.upsert_affected(result.affected - before, len(chunk))
        if returning and not dialect.insert_returning:  # pragma: no cover - every engine returns
            raise InvalidArgument(f"{dialect.name} cannot return rows from an insert")
        return result

    if operation == "update":
        update = request.update
        changed = _update_columns(update, collection)
        if returning and not dialect.update_returning:
            await _update_by_key(request, collection, dialect, runner, result, changed, read)
            return result
        params = Params(dialect)
        assignments = _assignments(update, changed, dialect, params)
        where = _predicate(update.predicate, "an update", dialect, collection, params)
        await run(f"UPDATE {dialect.quote(collection.name)} SET {assignments} WHERE {where}", params, True)
        return result

    params = Params(dialect)
    where = _predicate(request.delete.predicate, "a delete", dialect, collection, params)
    await run(f"DELETE FROM {dialect.quote(collection.name)} WHERE {where}", params, dialect.delete_returning)
    return result


def _upsert_target(
    collection: CollectionInfo, columns: list[ColumnInfo], op: pb.Upsert
) -> tuple[list[ColumnInfo], list[ColumnInfo]]:
    """The checked conflict key of an upsert and the columns a row that exists takes (none: keep it)."""
    conflict = list(op.conflict_columns) or list(collection.primary_key)
    if not conflict:
        raise InvalidArgument(f"an upsert into {collection.name!r} needs conflict columns (it has no primary key)")
    keys = [collection.column(c) for c in conflict]
    unique = [set(collection.primary_key), *(set(k) for k in collection.unique_keys)]
    if set(conflict) not in unique:
        raise InvalidArgument(
            f"an upsert into {collection.name!r}: {conflict} is not the primary key or a unique key of the table"
        )
    named = {c.name for c in columns}
    missing = [k.name for k in keys if k.name not in named]
    if missing:
        raise InvalidArgument(f"an upsert into {collection.name!r} must set its conflict columns {missing}")
    chosen = [collection.column(c) for c in op.update_columns] if op.update_columns else columns
    return keys, [c for c in chosen if c.name not in set(conflict)]


_EXACT_KEYS = (Logical.INT, Logical.STRING, Logical.UUID)


def _any_key_upsert_exact(
    request: pb.MutateRequest, collection: CollectionInfo, d: Dialect, columns: list[ColumnInfo]
) -> bool:
    """Whether an upsert that fires on any unique key (MySQL's ON DUPLICATE KEY UPDATE) does
    exactly what the key-by-key path does: the conflict columns are the table's only unique key
    (so no other key can fire it), compared exactly (integers, or strings and UUIDs in a binary
    collation: a case- or space-insensitive key would conflict where the named key does not),
    existing rows take some columns, nothing is returned, every NOT NULL column is set (an
    existing row never meets the INSERT's missing-value check) and no key comes twice (the
    key-by-key path inserts both and fails)."""
    op = request.upsert
    keys, updates = _upsert_target(collection, columns, op)
    unique = {frozenset(k) for k in (collection.primary_key, *collection.unique_keys) if k}
    if request.returning or not updates or unique != {frozenset(k.name for k in keys)}:
        return False
    if any(k.logical not in _EXACT_KEYS or k.case_insensitive for k in keys):
        return False
    named = {c.name for c in columns}
    if any(not c.nullable and c.name not in named for c in collection.columns.values()):
        return False
    binders = [(k.name, _value_binder(d, k)) for k in keys]
    incoming = {tuple(bind(row.values[name]) for name, bind in binders) for row in op.rows}
    return len(incoming) == len(op.rows)


def _upsert_suffix(d: Dialect, collection: CollectionInfo, columns: list[ColumnInfo], op: pb.Upsert) -> str:
    keys, updates = _upsert_target(collection, columns, op)
    return " " + d.upsert_clause(keys, updates)


async def _upsert_by_key(
    request: pb.MutateRequest,
    collection: CollectionInfo,
    d: Dialect,
    runner: _Runner,
    result: WriteResult,
    columns: list[ColumnInfo],
    read: list[Callable[[Any], Any]],
) -> None:
    """An upsert for engines whose upsert cannot name its conflict columns (see the module
    docstring), on the caller's transaction."""
    op = request.upsert
    keys, updates = _upsert_target(collection, columns, op)
    table = d.quote(collection.name)
    key_sql = [d.column(k) for k in keys]
    canonical = [reader(Logical.UNSPECIFIED, k) for k in keys]

    def key_of(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(r(v) for r, v in zip(canonical, values, strict=True))

    incoming = [tuple(d.bind(k, from_proto(row.values[k.name])) for k in keys) for row in op.rows]
    params = Params(d)
    existing = {
        key_of(found)
        for found in await runner.fetch(
            f"SELECT {', '.join(key_sql)} FROM {table} WHERE {d.in_keys(keys, key_sql, incoming, params)} FOR UPDATE",
            params.values,
        )
    }
    new_rows = [row for row, key in zip(op.rows, incoming, strict=True) if key_of(key) not in existing]
    written = [key for key in incoming if key_of(key) not in existing or updates]
    step = max(1, d.max_params // len(columns))
    for start in range(0, len(new_rows), step):
        params = Params(d)
        sql = _insert_sql(d, collection, columns, new_rows[start : start + step], params)
        result.affected += await runner.execute(sql, params.values)
    for row, key in zip(op.rows, incoming, strict=True):
        if key_of(key) not in existing or not updates:
            continue
        params = Params(d)
        assignments = ", ".join(f"{d.column(c)} = {params.bind(c, from_proto(row.values[c.name]))}" for c in updates)
        where = d.in_keys(keys, key_sql, [key], params)
        result.affected += await runner.execute(f"UPDATE {table} SET {assignments} WHERE {where}", params.values)
    if not request.returning or not written:
        return
    params = Params(d)
    returning_sql = ", ".join(d.column(collection.column(c.name)) for c in request.returning)
    rows = await runner.fetch(
        f"SELECT {', '.join(key_sql)}, {returning_sql} FROM {table} WHERE {d.in_keys(keys, key_sql, written, params)}",
        params.values,
    )
    by_key = {key_of(row[: len(keys)]): row[len(keys) :] for row in rows}
    for key in dict.fromkeys(key_of(k) for k in written):
        if key in by_key:
            result.rows.append([r(v) for r, v in zip(read, by_key[key], strict=True)])


async def _update_by_key(
    request: pb.MutateRequest,
    collection: CollectionInfo,
    d: Dialect,
    runner: _Runner,
    result: WriteResult,
    changed: list[ColumnInfo],
    read: list[Callable[[Any], Any]],
) -> None:
    """UPDATE ... RETURNING for engines without it: lock the matching rows, update them by primary
    key, read them back by primary key, all on the caller's transaction."""
    update = request.update
    pk = [collection.column(k) for k in collection.primary_key]
    if not pk:
        raise InvalidArgument(f"returning from an update of {collection.name!r} needs a primary key on {d.name}")
    if any(c.name in collection.primary_key for c in changed):
        raise InvalidArgument(f"returning from an update that sets the primary key of {collection.name!r}")
    params = Params(d)
    where = _predicate(update.predicate, "an update", d, collection, params)
    table = d.quote(collection.name)
    pk_sql = [d.column(c) for c in pk]
    order = ", ".join(pk_sql)
    keys = [
        tuple(row)
        for row in await runner.fetch(
            f"SELECT {', '.join(pk_sql)} FROM {table} WHERE {where} ORDER BY {order} FOR UPDATE",
            params.values,
        )
    ]
    if not keys:
        return
    params = Params(d)
    assignments = _assignments(update, changed, d, params)
    in_keys = d.in_keys(pk, pk_sql, keys, params)
    result.affected += await runner.execute(f"UPDATE {table} SET {assignments} WHERE {in_keys}", params.values)
    params = Params(d)
    returning_sql = ", ".join(d.column(collection.column(c.name)) for c in request.returning)
    rows = await runner.fetch(
        f"SELECT {returning_sql} FROM {table} WHERE {d.in_keys(pk, pk_sql, keys, params)} ORDER BY {order}",
        params.values,
    )
    result.rows += [[r(v) for r, v in zip(read, row, strict=True)] for row in rows]
