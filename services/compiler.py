"""Compile a contract `QueryRequest` into SQL statements for one dialect (docs/reference.md §8).

Batching: a request with variable sets asks for one row set per set, in order. When the only use
of variables is `column = $variable` in the top-level AND (the shape every relation fetch has),
the whole batch is ONE statement: `... WHERE <the rest> AND (columns) IN (<distinct keys>)`, with
per-set `limit`/`offset` applied by `ROW_NUMBER() OVER (PARTITION BY <key columns>)`; rows come
back with their key and are handed to every set with that key. Only when the key list is longer
than the engine's parameter limit is it split, into as few statements as fit. Any other use of
variables runs one statement per set (correct, not batched; the router never asks for it).

Order is total: the requested order, then the primary key as a tie-breaker, so every engine
returns the same rows in the same order. Every value is bound; every identifier was checked
against the catalog.

A batched request's shape (the request minus its variable sets: what relation fetches repeat with
new keys) is worked out once per `ShapeCache`: the collection as this request reads it, the
columns, the order and how the predicate splits into keys and the rest; only the keys are new on
every call (bench/results/peer-round1.md has what it saves).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import CollectionInfo, ColumnInfo, Logical
from dbmesh.services.dialects.base import Dialect, Params
from dbmesh.services.errors import InvalidArgument
from dbmesh.services.values import from_proto, reader
from dbmesh.services.values import to_proto as _to_proto

__all__ = ["CompiledQuery", "ShapeCache", "SqlStatement", "compile_nested", "compile_predicate", "compile_query"]

ROW_NUMBER = "dbmesh_rn"

_COMPARISONS = {
    pb.OPERATOR_EQ: "=",
    pb.OPERATOR_NEQ: "<>",
    pb.OPERATOR_GT: ">",
    pb.OPERATOR_GTE: ">=",
    pb.OPERATOR_LT: "<",
    pb.OPERATOR_LTE: "<=",
}


@dataclass(frozen=True)
class SqlStatement:
    sql: str
    params: list[Any]


@dataclass(frozen=True)
class CompiledQuery:
    """Statements to run in order, and how their rows map to the request's row sets.

    Each result row is `key_width` key values followed by the requested columns. `set_keys[i]` is
    the canonical key of variable set i (None: no rows for it, e.g. a NULL key). In `per_set`
    mode statement i answers variable set i. Otherwise, with `key_width == 0`, every statement's
    rows go to every set.
    """

    statements: list[SqlStatement]
    columns: list[ColumnInfo]
    key_width: int
    key_readers: list[Any]
    set_keys: list[tuple[Any, ...] | None]
    set_count: int
    per_set: bool = False


# --- predicates ------------------------------------------------------------------------------


class _PredicateCompiler:
    def __init__(
        self,
        dialect: Dialect,
        collection: CollectionInfo,
        params: Params,
        variables: Mapping[str, pb.Value] | None,
    ) -> None:
        self.dialect = dialect
        self.collection = collection
        self.params = params
        self.variables = variables

    def expression(self, expr: pb.Expression) -> str:
        kind = expr.WhichOneof("kind")
        if kind == "comparison":
            return self.comparison(expr.comparison)
        if kind == "and":
            parts = [self.expression(e) for e in getattr(expr, "and").expressions]
            return "(" + " AND ".join(parts) + ")" if parts else "1 = 1"
        if kind == "or":
            parts = [self.expression(e) for e in getattr(expr, "or").expressions]
            return "(" + " OR ".join(parts) + ")" if parts else "1 = 0"
        if kind == "not":
            return f"NOT ({self.expression(getattr(expr, 'not').expression)})"
        raise InvalidArgument("an expression has no kind")

    def operand(self, operand: pb.Operand, column: str) -> Any:
        kind = operand.WhichOneof("kind")
        if kind == "value":
            return from_proto(operand.value)
        if kind == "list":
            return [from_proto(v) for v in operand.list.values]
        if kind == "variable":
            if self.variables is None or operand.variable not in self.variables:
                raise InvalidArgument(f"variable {operand.variable!r} (column {column!r}) is not bound")
            return from_proto(self.variables[operand.variable])
        raise InvalidArgument(f"comparison on column {column!r} has no operand")

    def comparison(self, cmp: pb.Comparison) -> str:
        column = self.collection.column(cmp.column)
        sql = self.dialect.column(column)
        op = cmp.operator
        value = self.operand(cmp.operand, cmp.column)
        if isinstance(value, uuid.UUID) or (isinstance(value, list) and value and isinstance(value[0], uuid.UUID)):
            column = as_uuid(column)
        name = pb.Operator.Name(op) if op in pb.Operator.values() else str(op)
        if op in (pb.OPERATOR_IN, pb.OPERATOR_NIN):
            if not isinstance(value, list):
                raise InvalidArgument(f"{name} on column {cmp.column!r} needs a list")
            clause = self.dialect.in_values(column, sql, value, self.params)
            return clause if op == pb.OPERATOR_IN else f"NOT {clause}"
        if isinstance(value, list):
            raise InvalidArgument(f"{name} on column {cmp.column!r} takes one value, not a list")
        if op in _COMPARISONS:
            if value is None:  # `_eq: null` means IS NULL, `_neq: null` IS NOT NULL
                if op == pb.OPERATOR_EQ:
                    return f"{sql} IS NULL"
                if op == pb.OPERATOR_NEQ:
                    return f"{sql} IS NOT NULL"
                raise InvalidArgument(f"{name} on column {cmp.column!r} cannot compare with null")
            return self.dialect.compare(column, sql, _COMPARISONS[op], self.params.bind(column, value))
        if op in (pb.OPERATOR_LIKE, pb.OPERATOR_ILIKE):
            if not isinstance(value, str):
                raise InvalidArgument(f"{name} on column {cmp.column!r} needs a string pattern")
            placeholder = self.params.add(value)
            if op == pb.OPERATOR_LIKE:
                return self.dialect.like(column, sql, placeholder)
            return self.dialect.ilike(column, sql, placeholder)
        if op == pb.OPERATOR_IS_NULL:
            if not isinstance(value, bool):
                raise InvalidArgument(f"IS_NULL on column {cmp.column!r} needs a boolean")
            return f"{sql} IS NULL" if value else f"{sql} IS NOT NULL"
        if op == pb.OPERATOR_YEAR:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"YEAR on column {cmp.column!r} needs an integer year")
            low, high = self.dialect.year_bounds(column, value)
            exact = self.dialect.exact(sql, column)
            return f"({exact} >= {self.params.bind(column, low)} AND {exact} < {self.params.bind(column, high)})"
        raise InvalidArgument(f"unknown operator {name} on column {cmp.column!r}")


def compile_predicate(
    expr: pb.Expression | None,
    dialect: Dialect,
    collection: CollectionInfo,
    params: Params,
    variables: Mapping[str, pb.Value] | None = None,
) -> str | None:
    """The SQL of `expr` (None when absent), its values bound into `params`."""
    if expr is None or expr.WhichOneof("kind") is None:
        return None
    return _PredicateCompiler(dialect, collection, params, variables).expression(expr)


def _uses_variables(expr: pb.Expression) -> bool:
    kind = expr.WhichOneof("kind")
    if kind == "comparison":
        return expr.comparison.operand.WhichOneof("kind") == "variable"
    if kind in ("and", "or"):
        return any(_uses_variables(e) for e in getattr(expr, kind).expressions)
    if kind == "not":
        return _uses_variables(getattr(expr, "not").expression)
    return False


def _split_keys(expr: pb.Expression | None) -> tuple[list[pb.Comparison], list[pb.Expression]] | None:
    """(`column = $variable` comparisons, the other conjuncts) when the top-level AND uses
    variables only that way; None when variables are used otherwise."""
    if expr is None or expr.WhichOneof("kind") is None:
        return [], []
    conjuncts = list(getattr(expr, "and").expressions) if expr.WhichOneof("kind") == "and" else [expr]
    keys: list[pb.Comparison] = []
    rest: list[pb.Expression] = []
    for conjunct in conjuncts:
        cmp = conjunct.comparison if conjunct.WhichOneof("kind") == "comparison" else None
        if cmp is not None and cmp.operator == pb.OPERATOR_EQ and cmp.operand.WhichOneof("kind") == "variable":
            keys.append(cmp)
        elif _uses_variables(conjunct):
            return None
        else:
            rest.append(conjunct)
    return keys, rest


# --- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """What every statement of one request shares."""

    request: pb.QueryRequest
    collection: CollectionInfo
    dialect: Dialect
    columns: list[ColumnInfo]
    order: list[tuple[ColumnInfo, bool]]


def _order(request: pb.QueryRequest, collection: CollectionInfo) -> list[tuple[ColumnInfo, bool]]:
    order = [(collection.column(o.column), o.direction == pb.DIRECTION_DESC) for o in request.order_by]
    named = {c.name for c, _ in order}
    order += [(collection.column(k), False) for k in collection.primary_key if k not in named]
    return order


def _paging(request: pb.QueryRequest) -> tuple[int | None, int | None]:
    limit = request.limit if request.HasField("limit") else None
    offset = request.offset if request.HasField("offset") and request.offset > 0 else None
    if limit is not None and limit < 0:
        raise InvalidArgument(f"limit must not be negative (got {limit})")
    if request.HasField("offset") and request.offset < 0:
        raise InvalidArgument(f"offset must not be negative (got {request.offset})")
    return limit, offset


def _plain_statement(shape: _Shape, variables: Mapping[str, pb.Value] | None = None) -> SqlStatement:
    d = shape.dialect
    params = Params(d)
    select = ", ".join(d.column(c) for c in shape.columns) or "1"
    sql = f"SELECT {select} FROM {d.quote(shape.collection.name)}"
    where = compile_predicate(
        shape.request.predicate if shape.request.HasField("predicate") else None,
        d,
        shape.collection,
        params,
        variables,
    )
    if where:
        sql += f" WHERE {where}"
    if shape.order:
        sql += " ORDER BY " + ", ".join(d.order_term(c, d.column(c), desc) for c, desc in shape.order)
    limit, offset = _paging(shape.request)
    paging = d.limit_offset(
        params.add(limit) if limit is not None else None,
        params.add(offset) if offset is not None else None,
    )
    if paging:
        sql += f" {paging}"
    return SqlStatement(sql, params.values)


def _keyed_statement(
    shape: _Shape,
    key_columns: list[ColumnInfo],
    rest: list[pb.Expression],
    keys: list[tuple[Any, ...]],
) -> SqlStatement:
    d = shape.dialect
    params = Params(d)
    key_sql = [d.column(c) for c in key_columns]
    conditions = [sql for sql in (compile_predicate(e, d, shape.collection, params) for e in rest) if sql is not None]
    conditions.append(d.in_keys(key_columns, key_sql, keys, params))
    where = " AND ".join(conditions)
    table = d.quote(shape.collection.name)
    order_sql = ", ".join(d.order_term(c, d.column(c), desc) for c, desc in shape.order)
    limit, offset = _paging(shape.request)
    if limit is None and offset is None:
        select = ", ".join(key_sql + [d.column(c) for c in shape.columns])
        sql = f"SELECT {select} FROM {table} WHERE {where}"
        if order_sql:
            sql += f" ORDER BY {order_sql}"
        return SqlStatement(sql, params.values)
    # Per-set paging: number each key's rows in order and keep the requested window.
    inner_cols = [f"{s} AS {d.quote(f'k{i}')}" for i, s in enumerate(key_sql)]
    inner_cols += [f"{d.column(c)} AS {d.quote(f'c{i}')}" for i, c in enumerate(shape.columns)]
    over = f"PARTITION BY {', '.join(key_sql)}" + (f" ORDER BY {order_sql}" if order_sql else "")
    inner_cols.append(f"ROW_NUMBER() OVER ({over}) AS {d.quote(ROW_NUMBER)}")
    outer_cols = [d.quote(f"k{i}") for i in range(len(key_sql))]
    outer_cols += [d.quote(f"c{i}") for i in range(len(shape.columns))]
    window = []
    if offset is not None:
        window.append(f"{d.quote(ROW_NUMBER)} > {params.add(offset)}")
    if limit is not None:
        window.append(f"{d.quote(ROW_NUMBER)} <= {params.add((offset or 0) + limit)}")
    sql = (
        f"SELECT {', '.join(outer_cols)} FROM (SELECT {', '.join(inner_cols)} FROM {table} WHERE {where})"
        f" {d.quote('dbmesh_w')} WHERE {' AND '.join(window)} ORDER BY {d.quote(ROW_NUMBER)}"
    )
    return SqlStatement(sql, params.values)


def as_uuid(column: ColumnInfo) -> ColumnInfo:
    """A text column compared or sorted as UUIDs: canonical UUIDs are lower-case hex, so a
    case-insensitive collation already compares and sorts them exactly (and a MySQL index on the
    column serves the comparison without a second, binary one)."""
    if column.logical != Logical.STRING or (column.exact_collation is None and not column.case_insensitive):
        return column
    return replace(column, exact_collation=None, case_insensitive=False)


def _with_uuid_columns(request: pb.QueryRequest, collection: CollectionInfo) -> CollectionInfo:
    """`collection` with the text columns this request reads as UUIDs seen as such."""
    changed = {}
    for c in request.columns:
        info = collection.columns.get(c.name) if c.type == pb.LOGICAL_TYPE_UUID else None
        if info is not None and (seen := as_uuid(info)) is not info:
            changed[c.name] = seen
    if not changed:  # none, or every one a UUID column already (PostgreSQL's uuid): no copy per request
        return collection
    return replace(collection, columns={**collection.columns, **changed})


_Split = tuple[list[pb.Comparison], list[pb.Expression]] | None


@dataclass(frozen=True)
class _Prepared:
    """What a request's shape alone decides: `shape.request` is the request without its variable
    sets, `split` how its predicate uses the variables (see `_split_keys`)."""

    source: CollectionInfo
    shape: _Shape
    split: _Split
    keyed_shape: _Shape  # `shape` as the keyed statement sorts (see `_keyed_order`)


def _prepare(request: pb.QueryRequest, collection: CollectionInfo, dialect: Dialect, batched: bool) -> _Prepared:
    source = collection
    collection = _with_uuid_columns(request, collection)
    columns = [collection.column(c.name) for c in request.columns]
    shape = _Shape(request, collection, dialect, columns, _order(request, collection))
    split = _split_keys(request.predicate if request.HasField("predicate") else None) if batched else None
    keyed_shape = shape
    if split is not None and split[0]:
        keys = [collection.column(c.column) for c in split[0]]
        keyed_shape = replace(shape, order=_keyed_order(shape.order, keys))
    return _Prepared(source, shape, split, keyed_shape)


def _keyed_order(order: list[tuple[ColumnInfo, bool]], keys: list[ColumnInfo]) -> list[tuple[ColumnInfo, bool]]:
    """`order` for a keyed statement: the key columns first, sorted as stored, then the rest.
    Within one key they hold one value (matched exactly, never NULL) and rows reach their sets by
    key, so neither the order across keys nor the collation the keys sort in changes a row set; in
    this form an index that finds the rows also returns them in order, with no sort: MariaDB read
    `order_items` by its primary key (order_id, product_id) and then sorted every row again by
    `CONVERT(order_id USING utf8mb4) COLLATE utf8mb4_nopad_bin`, and `orders` by
    `customer_id`'s index (which ends in the primary key `id`) and then sorted by `id`."""
    names = {c.name for c in keys}
    stored = [(replace(c, exact_collation=None, case_insensitive=False, nullable=False), False) for c in keys]
    return stored + [(c, desc) for c, desc in order if c.name not in names]


def _without_variables(request: pb.QueryRequest) -> pb.QueryRequest:
    shape = pb.QueryRequest(collection=request.collection, columns=request.columns, order_by=request.order_by)
    if request.HasField("predicate"):
        shape.predicate.CopyFrom(request.predicate)
    if request.HasField("limit"):
        shape.limit = request.limit
    if request.HasField("offset"):
        shape.offset = request.offset
    return shape


class ShapeCache:
    """The last `size` shapes of batched requests, by collection and serialized shape. An entry
    is used only for the very collection object it was made from, so a catalog refreshed by
    GetSchema starts afresh."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, bytes], _Prepared] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def prepared(self, request: pb.QueryRequest, collection: CollectionInfo, dialect: Dialect) -> _Prepared:
        # A request with neither variable sets nor nested requests (a nested one: check_nested
        # allows it no transaction or replica either) is its own shape, with no copy to make.
        shape = _without_variables(request) if request.variables or request.nested else request
        key = (request.collection, shape.SerializeToString(deterministic=True))
        entry = self._entries.get(key)
        if entry is not None and entry.source is collection and entry.shape.dialect is dialect:
            self._entries.move_to_end(key)
            return entry
        entry = _prepare(shape, collection, dialect, batched=True)
        self._entries[key] = entry
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return entry


def compile_query(
    request: pb.QueryRequest, collection: CollectionInfo, dialect: Dialect, cache: ShapeCache | None = None
) -> CompiledQuery:
    """The statements of `request`; a batched request's shape comes from `cache` when given."""
    sets = list(request.variables)
    prepared = (
        cache.prepared(request, collection, dialect)
        if cache is not None and sets
        else _prepare(request, collection, dialect, batched=bool(sets))
    )
    shape = prepared.shape
    columns = shape.columns
    if not sets:
        return CompiledQuery([_plain_statement(shape)], columns, 0, [], [()], 1)
    split = prepared.split
    if split is None:
        statements = [_plain_statement(shape, s.values) for s in sets]
        return CompiledQuery(statements, columns, 0, [], [() for _ in sets], len(sets), per_set=True)
    key_cmps, rest = split
    if not key_cmps:  # variables bind nothing: one statement serves every set
        return CompiledQuery([_plain_statement(shape)], columns, 0, [], [() for _ in sets], len(sets))
    names = [c.operand.variable for c in key_cmps]
    decoded: list[list[Any]] = []
    for index, variable_set in enumerate(sets):
        values = []
        for name in names:
            if name not in variable_set.values:
                raise InvalidArgument(f"variable set {index} does not bind variable {name!r}")
            values.append(from_proto(variable_set.values[name]))
        decoded.append(values)
    return _compile_keyed(prepared.keyed_shape, key_cmps, rest, decoded)


def compile_nested(
    request: pb.QueryRequest,
    collection: CollectionInfo,
    dialect: Dialect,
    cache: ShapeCache,
    variables: list[str],
    keys: list[tuple[Any, ...]],
) -> CompiledQuery:
    """`compile_query` of `request` (which has no variable sets) with one variable set per key of
    `keys`, binding `variables` to its values (decoded values, as `from_proto` gives them), the
    sets never built: a nested request over its parent's keys (services.nesting)."""
    prepared = cache.prepared(request, collection, dialect)
    split = prepared.split
    if split is None or not split[0]:  # not a keyed shape: the general path, over real sets
        sets = [pb.VariableSet(values={n: _to_proto(v) for n, v in zip(variables, key, strict=True)}) for key in keys]
        with_sets = pb.QueryRequest()
        with_sets.CopyFrom(request)
        with_sets.variables.extend(sets)
        return compile_query(with_sets, collection, dialect, cache)
    key_cmps, rest = split
    position = {name: i for i, name in enumerate(variables)}
    for cmp in key_cmps:
        if cmp.operand.variable not in position:
            raise InvalidArgument(f"variable set 0 does not bind variable {cmp.operand.variable!r}")
    order = [position[c.operand.variable] for c in key_cmps]
    decoded = [[key[i] for i in order] for key in keys]
    return _compile_keyed(prepared.keyed_shape, key_cmps, rest, decoded)


def _compile_keyed(
    shape: _Shape, key_cmps: list[pb.Comparison], rest: list[pb.Expression], decoded: list[list[Any]]
) -> CompiledQuery:
    """The keyed statements of `shape` for `decoded`: per variable set, the values of its key
    variables (in `key_cmps` order)."""
    d = shape.dialect
    key_columns = [shape.collection.column(c.column) for c in key_cmps]
    key_columns = [
        as_uuid(column) if any(isinstance(v[i], uuid.UUID) for v in decoded) else column
        for i, column in enumerate(key_columns)
    ]
    # Keys are matched in one canonical form: a UUID key stays a UUID whatever the column stores.
    key_readers = []
    for position, column in enumerate(key_columns):
        uuid_key = any(isinstance(v[position], uuid.UUID) for v in decoded)
        key_readers.append(reader(Logical.UUID if uuid_key else Logical.UNSPECIFIED, column))
    bound_keys: list[tuple[Any, ...]] = []
    set_keys: list[tuple[Any, ...] | None] = []
    seen: set[tuple[Any, ...]] = set()
    for values in decoded:
        if any(v is None for v in values):  # NULL equals nothing
            set_keys.append(None)
            continue
        bound = tuple(d.bind(c, v) for c, v in zip(key_columns, values, strict=True))
        canonical = tuple(r(b) for r, b in zip(key_readers, bound, strict=True))
        set_keys.append(canonical)
        if canonical not in seen:
            seen.add(canonical)
            bound_keys.append(bound)
    statements = []
    if bound_keys:
        probe = Params(d)
        for e in rest:
            compile_predicate(e, d, shape.collection, probe)
        per_statement = d.max_in_values(key_columns, len(probe.values) + 2)
        step = per_statement or len(bound_keys)
        for start in range(0, len(bound_keys), step):
            statements.append(_keyed_statement(shape, key_columns, rest, bound_keys[start : start + step]))
    return CompiledQuery(statements, shape.columns, len(key_columns), key_readers, set_keys, len(decoded))
