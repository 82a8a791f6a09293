"""Turn a planned fetch and its request-time argument values into a contract `QueryRequest`.

Declared arguments filter by their column and operator (docs/reference.md §4), `where` becomes the predicate
tree, `orderBy` the order, `limit`/`offset` the paging. Values are typed by their GraphQL scalar
(an `ID` that is a UUID travels as a UUID, a `Decimal` as an exact decimal, ...). Anything the
databases could not take is a `BadUserInput` naming the argument.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import Undefined

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import BadUserInput
from dbmesh.router.plan import BatchedJoin, Fetch, VarRef, variable_usages
from dbmesh.router.schema import SchemaIndex
from dbmesh.schema.model import Argument, ArgumentKind, ObjectType

__all__ = [
    "LOGICAL",
    "Slotted",
    "all_of",
    "build_request",
    "declared_arguments",
    "effective_limit",
    "key_variables",
    "match_nothing",
    "nested_keys",
    "resolve_arguments",
    "slotted",
    "to_value",
]

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

LOGICAL = {
    "ID": pb.LOGICAL_TYPE_UUID,
    "String": pb.LOGICAL_TYPE_STRING,
    "Int": pb.LOGICAL_TYPE_INT,
    "Float": pb.LOGICAL_TYPE_FLOAT,
    "Boolean": pb.LOGICAL_TYPE_BOOLEAN,
    "DateTime": pb.LOGICAL_TYPE_DATETIME,
    "Date": pb.LOGICAL_TYPE_DATE,
    "Decimal": pb.LOGICAL_TYPE_DECIMAL,
    "JSON": pb.LOGICAL_TYPE_JSON,
}

_OPERATORS = {
    "eq": pb.OPERATOR_EQ,
    "neq": pb.OPERATOR_NEQ,
    "gt": pb.OPERATOR_GT,
    "gte": pb.OPERATOR_GTE,
    "lt": pb.OPERATOR_LT,
    "lte": pb.OPERATOR_LTE,
    "in": pb.OPERATOR_IN,
    "nin": pb.OPERATOR_NIN,
    "like": pb.OPERATOR_LIKE,
    "ilike": pb.OPERATOR_ILIKE,
    "is_null": pb.OPERATOR_IS_NULL,
    "year": pb.OPERATOR_YEAR,
}


def resolve_arguments(template: Any, variables: Mapping[str, Any]) -> Any:
    """An argument template with its variables replaced; an unset variable is its argument's
    default, or `Undefined` when it has none."""
    if isinstance(template, VarRef):
        return variables.get(template.name, template.default)
    if isinstance(template, list):
        return [None if (v := resolve_arguments(t, variables)) is Undefined else v for t in template]
    if isinstance(template, dict):
        resolved = {k: resolve_arguments(t, variables) for k, t in template.items()}
        return {k: v for k, v in resolved.items() if v is not Undefined}
    return template


def to_value(value: Any, scalar: str) -> pb.Value:
    """A GraphQL value of `scalar` as a contract value."""
    if value is None:
        return pb.Value(null=True)
    if scalar == "ID":
        text = str(value)
        if _CANONICAL_UUID.fullmatch(text):  # keys read from a resolver already are
            return pb.Value(uuid=text)
        try:
            return pb.Value(uuid=str(uuid.UUID(text)))
        except ValueError:
            return pb.Value(string=text)
    if scalar == "Int":
        return pb.Value(int=int(value))
    if scalar == "Float":
        return pb.Value(float=float(value))
    if scalar == "Boolean":
        return pb.Value(boolean=bool(value))
    if scalar == "DateTime":
        return pb.Value(datetime=str(value))
    if scalar == "Date":
        return pb.Value(date=str(value))
    if scalar == "Decimal":
        return pb.Value(decimal=str(value))
    if scalar == "JSON":
        return pb.Value(json=orjson.dumps(value).decode())
    return pb.Value(string=str(value))


def _comparison(column: str, operator: int, operand: pb.Operand) -> pb.Expression:
    return pb.Expression(comparison=pb.Comparison(column=column, operator=operator, operand=operand))  # type: ignore[arg-type]


def _group(kind: str, expressions: list[pb.Expression]) -> pb.Expression:
    """An `and` / `or` expression (Python keywords, hence getattr)."""
    expr = pb.Expression()
    group = getattr(expr, kind)
    group.SetInParent()
    group.expressions.extend(expressions)
    return expr


def _negation(inner: pb.Expression) -> pb.Expression:
    expr = pb.Expression()
    getattr(expr, "not").expression.CopyFrom(inner)
    return expr


def _conjunction(expressions: list[pb.Expression]) -> pb.Expression | None:
    if not expressions:
        return None
    if len(expressions) == 1:
        return expressions[0]
    return _group("and", expressions)


def all_of(expressions: list[pb.Expression]) -> pb.Expression | None:
    """The AND of `expressions` (None for none)."""
    return _conjunction(expressions)


def match_nothing() -> pb.Expression:
    """A predicate no row satisfies: NOT (the empty AND, which every row satisfies)."""
    return _negation(_group("and", []))


class _Where:
    """`where` input -> predicate tree, over the columns of one object type."""

    def __init__(self, target: ObjectType, field: str) -> None:
        self.columns = {c.graphql_name: c for c in target.columns}
        self.field = field

    def expression(self, where: Mapping[str, Any], path: str) -> pb.Expression | None:
        parts: list[pb.Expression] = []
        for key, value in where.items():
            if value is None:
                continue
            if key == "_and":
                parts += [e for i, w in enumerate(value) if (e := self.expression(w, f"{path}._and[{i}]"))]
            elif key == "_or":
                branches = [self.expression(w, f"{path}._or[{i}]") for i, w in enumerate(value)]
                # An empty branch matches everything, so the whole OR does.
                if all(b is not None for b in branches):
                    parts.append(_group("or", [b for b in branches if b is not None]))
            elif key == "_not":
                inner = self.expression(value, f"{path}._not")
                parts.append(_negation(inner or _group("and", [])))
            else:
                parts += self.comparisons(key, value, f"{path}.{key}")
        return _conjunction(parts)

    def comparisons(self, key: str, ops: Mapping[str, Any], path: str) -> list[pb.Expression]:
        column = self.columns[key]
        scalar = column.scalar.value
        out = []
        for op, value in ops.items():
            name = op.lstrip("_")
            if value is None and name not in ("eq", "neq"):
                if name in ("in", "nin", "is_null", "like", "ilike"):
                    continue
                raise BadUserInput(f"{self.field}: {path}.{op} cannot be null")
            if name in ("in", "nin"):
                operand = pb.Operand(list=pb.ValueList(values=[to_value(v, scalar) for v in value]))
            elif name == "is_null":
                operand = pb.Operand(value=pb.Value(boolean=bool(value)))
            elif name in ("like", "ilike"):
                operand = pb.Operand(value=pb.Value(string=str(value)))
            else:
                operand = pb.Operand(value=to_value(value, scalar))
            out.append(_comparison(column.name, _OPERATORS[name], operand))
        return out


def _filter(arg: Argument, value: Any, field: str) -> pb.Expression | None:
    if value is None:
        return None
    column = arg.column or arg.name
    if arg.operator in ("in", "nin") or arg.is_list:
        values = value if isinstance(value, list) else [value]
        operand = pb.Operand(list=pb.ValueList(values=[to_value(v, arg.scalar.value) for v in values]))
        return _comparison(column, _OPERATORS["nin" if arg.operator == "nin" else "in"], operand)
    if arg.operator == "year":
        return _comparison(column, pb.OPERATOR_YEAR, pb.Operand(value=pb.Value(int=int(value))))
    if arg.operator == "is_null":
        return _comparison(column, pb.OPERATOR_IS_NULL, pb.Operand(value=pb.Value(boolean=bool(value))))
    if arg.operator in ("like", "ilike"):
        return _comparison(column, _OPERATORS[arg.operator], pb.Operand(value=pb.Value(string=str(value))))
    return _comparison(column, _OPERATORS[arg.operator], pb.Operand(value=to_value(value, arg.scalar.value)))


def _order_by(target: ObjectType, items: list[Mapping[str, str]], field: str) -> list[pb.OrderBy]:
    columns = {c.graphql_name: c.name for c in target.columns}
    order = []
    for i, item in enumerate(items):
        if len(item) != 1:
            named = ", ".join(item) or "none"
            raise BadUserInput(f"{field}: orderBy[{i}] must name exactly one field (got {named})")
        ((key, direction),) = item.items()
        order.append(
            pb.OrderBy(column=columns[key], direction=pb.DIRECTION_DESC if direction == "DESC" else pb.DIRECTION_ASC)
        )
    return order


def _page(name: str, value: Any, field: str) -> int | None:
    if value is None:
        return None
    if value < 0:
        raise BadUserInput(f"{field}: {name} must not be negative (got {value})")
    return int(value)


def effective_limit(value: Any, many: bool, default_limit: int | None) -> Any:
    """The `limit` a field runs with: its argument's value, or `default_limit` for a list field
    given none (or null) — `[router] default_limit`, docs/reference.md §14."""
    if value is None or value is Undefined:
        return default_limit if many else None
    return value


def declared_arguments(index: SchemaIndex, fetch: Fetch) -> dict[str, Argument]:
    """The schema's arguments of the field `fetch` serves, by GraphQL name."""
    if fetch.owner == "Query":
        arguments = index.roots[fetch.field].arguments
    else:
        relation = index.binding(fetch.owner, fetch.field).relation
        assert relation is not None
        arguments = relation.arguments
    return {a.graphql_name: a for a in arguments}


def build_request(
    node: Fetch | BatchedJoin, index: SchemaIndex, arguments: Mapping[str, Any], *, default_limit: int | None = None
) -> pb.QueryRequest:
    """The request for `node` given its resolved `arguments` (GraphQL name -> value); a list field
    given no `limit` gets `default_limit`."""
    fetch = node.fetch if isinstance(node, BatchedJoin) else node
    declared = declared_arguments(index, fetch)
    target = index.model.types[fetch.type]
    field = ".".join(fetch.path)
    predicates: list[pb.Expression] = []
    order: list[pb.OrderBy] = []
    limit = offset = None
    for name, value in arguments.items():
        arg = declared.get(name)
        if arg is not None and arg.kind == ArgumentKind.FILTER:
            if (expr := _filter(arg, value, field)) is not None:
                predicates.append(expr)
        elif name == "limit":
            limit = _page("limit", value, field)
        elif name == "offset":
            offset = _page("offset", value, field)
        elif name == "where" and value:
            if (expr := _Where(target, field).expression(value, "where")) is not None:
                predicates.append(expr)
        elif name == "orderBy" and value:
            order = _order_by(target, value, field)
    request = pb.QueryRequest(
        collection=fetch.collection,
        columns=[pb.ColumnRef(name=c.name, type=LOGICAL[c.scalar]) for c in fetch.columns],
        order_by=order,
    )
    if isinstance(node, BatchedJoin):
        predicates.extend(
            _comparison(column, pb.OPERATOR_EQ, pb.Operand(variable=f"k{i}")) for i, (column, _) in enumerate(node.join)
        )
    if (predicate := _conjunction(predicates)) is not None:
        request.predicate.CopyFrom(predicate)
    limit = effective_limit(limit, fetch.many, default_limit)
    if limit is not None:
        request.limit = limit
    if offset is not None:
        request.offset = offset
    return request


def key_variables(keys: list[tuple[Any, ...]], scalars: tuple[str, ...]) -> list[pb.VariableSet]:
    """One variable set per parent key: `k0`, `k1`, ... for the join's columns."""
    return [
        pb.VariableSet(values={f"k{i}": to_value(v, s) for i, (v, s) in enumerate(zip(key, scalars, strict=True))})
        for key in keys
    ]


def nested_keys(join: tuple[tuple[str, int], ...]) -> list[pb.NestedKey]:
    """The keys of a nested request (`QueryRequest.nested`): variable `k0`, `k1`, ... bound to the
    parent's column of each (target column, parent column index) pair, as `key_variables` binds them."""
    return [pb.NestedKey(variable=f"k{i}", parent_column=index) for i, (_, index) in enumerate(join)]


# A value of each scalar that `to_value` takes, to build a `Slotted` request with (then replaced).
_PLACEHOLDERS: dict[str, Any] = {"Int": 0, "Float": 0.0, "Boolean": False, "Decimal": "0", "JSON": 0}
# The scalar whose `to_value` gives the operand `_filter` gives each operator not typed by its column.
_SLOT_SCALARS = {"year": "Int", "is_null": "Boolean", "like": "String", "ilike": "String"}


@dataclass(frozen=True)
class Slotted:
    """The request of a fetch whose only variables are the values of its comparisons (`id: $id`),
    built once per plan with placeholders: an execution copies it and sets its own values in their
    slots, which gives what `build_request` would (the copy is the execution's; the template is
    never written). Each slot: (variable, its default, its scalar, the comparison's index in the
    predicate's AND, or None when the comparison is the whole predicate)."""

    request: pb.QueryRequest
    slots: tuple[tuple[str, Any, str, int | None], ...]

    def fill(self, variables: Mapping[str, Any]) -> pb.QueryRequest | None:
        """This execution's request, or None when a variable is null or unset (the filter then
        drops out: `build_request` builds that shape)."""
        values = []
        for name, default, scalar, _ in self.slots:
            value = variables.get(name, default)
            if value is None or value is Undefined:
                return None
            values.append(to_value(value, scalar))
        request = pb.QueryRequest()
        request.CopyFrom(self.request)
        for (_, _, _, at), value in zip(self.slots, values, strict=True):
            expression = request.predicate if at is None else getattr(request.predicate, "and").expressions[at]
            expression.comparison.operand.value.CopyFrom(value)
        return request


def slotted(node: Fetch | BatchedJoin, index: SchemaIndex, *, default_limit: int | None = None) -> Slotted | None:
    """The `Slotted` request of a fetch whose every predicate comes from a variable given straight
    to a filter argument that is not a list (nor `in`/`nin`), its other arguments constants
    (limit, offset, orderBy); None for any other fetch, or when its constants are refused."""
    fetch = node.fetch if isinstance(node, BatchedJoin) else node
    declared = declared_arguments(index, fetch)
    arguments: dict[str, Any] = {}
    slots: list[tuple[str, Any, str, int | None]] = []
    for name, template in fetch.arguments:
        arg = declared.get(name)
        if isinstance(template, VarRef):
            if arg is None or arg.kind != ArgumentKind.FILTER or arg.is_list or arg.operator in ("in", "nin"):
                return None
            scalar = _SLOT_SCALARS.get(arg.operator, arg.scalar.value)
            arguments[name] = _PLACEHOLDERS.get(scalar, "")
            slots.append((template.name, template.default, scalar, len(slots)))
        elif name in ("where", "orderBy", "limit", "offset") and variable_usages(template):
            return None
        elif (arg is not None and arg.kind == ArgumentKind.FILTER) or (name == "where" and template):
            return None  # a constant predicate: the slots' places would depend on it
        else:
            arguments[name] = template
    if not slots:
        return None
    try:
        request = build_request(node, index, arguments, default_limit=default_limit)
    except BadUserInput:
        return None
    alone = len(slots) == 1 and not isinstance(node, BatchedJoin)
    return Slotted(request, tuple((n, d, s, None if alone else at) for n, d, s, at in slots))
