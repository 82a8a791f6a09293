"""A job's `where` as a contract predicate, typed by the source table's columns (docs/reference.md §12),
and the values a job moves, between the JSON rows a Query returns and the `Value`s a Mutate takes
(the canonical forms of §8).

The operators a column allows are those of its GraphQL scalar (§4): `_like`/`_ilike` only on
strings, ordering comparisons not on UUIDs, booleans or JSON. A string `now`, `now-30d`, `now-12h`,
`today`, `today-1d` compared with a date or datetime column is a time relative to the run's start
(UTC): `now` is that instant, `today` its date (at midnight for a datetime column).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.sync.config import RELATIVE, Cmp, Node, SyncJob
from dbmesh.where_operators import OPERATORS

__all__ = ["compile_where", "relative_time", "where_value"]

_ORDERED = ("_eq", "_neq", "_gt", "_gte", "_lt", "_lte", "_in", "_nin", "_is_null")
_ALLOWED: dict[int, tuple[str, ...]] = {
    pb.LOGICAL_TYPE_STRING: (*_ORDERED, "_like", "_ilike"),
    pb.LOGICAL_TYPE_INT: _ORDERED,
    pb.LOGICAL_TYPE_FLOAT: _ORDERED,
    pb.LOGICAL_TYPE_DECIMAL: _ORDERED,
    pb.LOGICAL_TYPE_DATE: _ORDERED,
    pb.LOGICAL_TYPE_DATETIME: _ORDERED,
    pb.LOGICAL_TYPE_UUID: ("_eq", "_neq", "_in", "_nin", "_is_null"),
    pb.LOGICAL_TYPE_BOOLEAN: ("_eq", "_neq", "_is_null"),
    pb.LOGICAL_TYPE_JSON: ("_is_null",),
}
_TYPE_NAMES = {
    pb.LOGICAL_TYPE_STRING: "string",
    pb.LOGICAL_TYPE_INT: "integer",
    pb.LOGICAL_TYPE_FLOAT: "float",
    pb.LOGICAL_TYPE_DECIMAL: "decimal",
    pb.LOGICAL_TYPE_DATE: "date",
    pb.LOGICAL_TYPE_DATETIME: "datetime",
    pb.LOGICAL_TYPE_UUID: "UUID",
    pb.LOGICAL_TYPE_BOOLEAN: "boolean",
    pb.LOGICAL_TYPE_JSON: "JSON",
}


def compile_where(job: SyncJob, columns: Mapping[str, pb.Column], started: datetime) -> pb.Expression | None:
    """`job.where` as a predicate over the source table's `columns` (None: no `where`); an unknown
    column, an operator its type does not have or a value that does not fit it is the job's
    ConfigError naming the key."""
    if not job.where.children:
        return None
    return _node(job, job.where, columns, started)


def _node(job: SyncJob, node: Node | Cmp, columns: Mapping[str, pb.Column], started: datetime) -> pb.Expression:
    if isinstance(node, Cmp):
        return _comparison(job, node, columns, started)
    children = [_node(job, child, columns, started) for child in node.children]
    expression = pb.Expression()
    if node.kind == "not":
        getattr(expression, "not").expression.CopyFrom(children[0])  # `not` is a Python keyword
    else:
        getattr(expression, node.kind).SetInParent()  # an empty _and is true, an empty _or false
        getattr(expression, node.kind).expressions.extend(children)
    return expression


def _comparison(job: SyncJob, cmp: Cmp, columns: Mapping[str, pb.Column], started: datetime) -> pb.Expression:
    column = columns.get(cmp.column)
    where = cmp.path.removeprefix(f"{job.path}.")
    if column is None:
        raise job.error(f"table {job.table!r} of database {job.source!r} has no column {cmp.column!r}", where)
    allowed = _ALLOWED.get(column.type, _ORDERED)
    if cmp.operator not in allowed:
        kind = _TYPE_NAMES.get(column.type, "this")
        raise job.error(f"{cmp.operator} does not apply to {kind} column {cmp.column!r}", where)
    operator = OPERATORS[cmp.operator]
    if cmp.operator == "_is_null":
        operand = pb.Operand(value=pb.Value(boolean=bool(cmp.value)))
    else:
        try:
            if isinstance(cmp.value, list):
                values = [where_value(column.type, v, started) for v in cmp.value]
                operand = pb.Operand(list=pb.ValueList(values=values))
            else:
                operand = pb.Operand(value=where_value(column.type, cmp.value, started))
        except ValueError as exc:
            kind = _TYPE_NAMES.get(column.type, "?")
            raise job.error(f"{exc} (column {cmp.column!r} is of type {kind})", where) from None
    return pb.Expression(comparison=pb.Comparison(column=cmp.column, operator=operator, operand=operand))


def relative_time(text: str, started: datetime) -> datetime | date:
    """`now-30d` etc. relative to `started` (aware, UTC): a datetime for `now...`, a date for `today...`."""
    match = RELATIVE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a relative time: {text!r}")
    anchor, sign, amount, unit = match.groups()
    delta = timedelta()
    if amount:
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit] * int(amount)
        delta = timedelta(seconds=seconds if sign == "+" else -seconds)
    if anchor == "now":
        return started + delta
    return (datetime.combine(started.date(), datetime.min.time(), UTC) + delta).date()


def where_value(logical: int, value: Any, started: datetime) -> pb.Value:
    """A `where` value (as TOML gave it) as a Value of a column of type `logical`; ValueError
    says why it does not fit."""
    if isinstance(value, str) and RELATIVE.fullmatch(value):
        if logical == pb.LOGICAL_TYPE_DATETIME:
            moment = relative_time(value, started)
            if not isinstance(moment, datetime):
                moment = datetime.combine(moment, datetime.min.time(), UTC)
            return pb.Value(datetime=_iso(moment))
        if logical == pb.LOGICAL_TYPE_DATE:
            day = relative_time(value, started)
            return pb.Value(date=(day.date() if isinstance(day, datetime) else day).isoformat())
    if isinstance(value, datetime):
        if logical != pb.LOGICAL_TYPE_DATETIME:
            raise ValueError("a datetime does not fit")
        return pb.Value(datetime=_iso(value if value.tzinfo else value.replace(tzinfo=UTC)))
    if isinstance(value, date):
        if logical == pb.LOGICAL_TYPE_DATETIME:
            return pb.Value(datetime=_iso(datetime.combine(value, datetime.min.time(), UTC)))
        if logical != pb.LOGICAL_TYPE_DATE:
            raise ValueError("a date does not fit")
        return pb.Value(date=value.isoformat())
    if logical == pb.LOGICAL_TYPE_BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return pb.Value(boolean=value)
    if isinstance(value, bool):
        raise ValueError(f"a boolean does not fit: {value!r}")
    if logical == pb.LOGICAL_TYPE_INT:
        if not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return pb.Value(int=value)
    if logical == pb.LOGICAL_TYPE_FLOAT:
        if not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return pb.Value(float=float(value))
    if logical == pb.LOGICAL_TYPE_DECIMAL:
        try:
            return pb.Value(decimal=str(Decimal(str(value))))
        except InvalidOperation:
            raise ValueError(f"expected a decimal, got {value!r}") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    if logical == pb.LOGICAL_TYPE_UUID:
        return pb.Value(uuid=value.lower())
    if logical == pb.LOGICAL_TYPE_DATETIME:
        return pb.Value(datetime=value)
    if logical == pb.LOGICAL_TYPE_DATE:
        return pb.Value(date=value)
    return pb.Value(string=value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
