"""Contract messages for the coordinator's own reads and writes of its `dbmesh_` tables: values
bound as Values, predicates as trees, never SQL (docs/reference.md §8)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["all_of", "eq", "is_null", "lt", "one_of", "query", "row", "rows", "value"]


def value(v: str | int | None) -> pb.Value:
    if v is None:
        return pb.Value(null=True)
    if isinstance(v, int):
        return pb.Value(int=v)
    return pb.Value(string=v)


def _compare(column: str, operator: pb.Operator.ValueType, v: str | int | None) -> pb.Expression:
    return pb.Expression(comparison=pb.Comparison(column=column, operator=operator, operand=pb.Operand(value=value(v))))


def eq(column: str, v: str | int) -> pb.Expression:
    return _compare(column, pb.OPERATOR_EQ, v)


def lt(column: str, v: int) -> pb.Expression:
    return _compare(column, pb.OPERATOR_LT, v)


def one_of(column: str, values: Sequence[pb.Value]) -> pb.Expression:
    """`column IN (values)`."""
    operand = pb.Operand(list=pb.ValueList(values=values))
    return pb.Expression(comparison=pb.Comparison(column=column, operator=pb.OPERATOR_IN, operand=operand))


def is_null(column: str, null: bool = True) -> pb.Expression:
    operand = pb.Operand(value=pb.Value(boolean=null))
    return pb.Expression(comparison=pb.Comparison(column=column, operator=pb.OPERATOR_IS_NULL, operand=operand))


def all_of(*expressions: pb.Expression) -> pb.Expression:
    combined = pb.Expression()
    getattr(combined, "and").expressions.extend(expressions)  # `and` is a Python keyword
    return combined


def any_of(expressions: Sequence[pb.Expression]) -> pb.Expression:
    combined = pb.Expression()
    getattr(combined, "or").expressions.extend(expressions)  # `or` is a Python keyword
    return combined


def query(
    collection: str,
    columns: Sequence[str],
    predicate: pb.Expression | None = None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> pb.QueryRequest:
    return pb.QueryRequest(
        collection=collection,
        columns=[pb.ColumnRef(name=c) for c in columns],
        predicate=predicate,
        order_by=[pb.OrderBy(column=c) for c in order_by],
        limit=limit,
    )


def rows(response: pb.QueryResponse, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The first row set of `response`, each row as a dict of `columns`."""
    decoded: list[list[Any]] = json.loads(response.row_sets[0].rows_json or b"[]")
    return [dict(zip(columns, row, strict=True)) for row in decoded]


def row(values: Mapping[str, str | int | None]) -> pb.Row:
    return pb.Row(values={k: value(v) for k, v in values.items()})
