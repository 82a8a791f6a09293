"""The declared arguments of root fields and relations (docs/reference.md §4 "Root fields").

For a field served by a database, each argument (after `self`) is, in this order of precedence:

1. mapped by `args={"arg": ("column", "operator")}`: a filter on that column with that operator;
   its GraphQL type is Int for `year`, Boolean for `is_null`, the column's type otherwise;
   `in`/`nin` need a `list[X]` argument and the other operators a single value;
2. `limit` or `offset` (an int, on list fields only): paging;
3. named after a column of the returned type: a filter by equality, or IN for `list[X]`, with the
   column's GraphQL type (`id: str` on a UUID column is `ID!`);
4. `year: int` when the returned type has exactly one date-like column (type Date or DateTime, or
   named `date`, `*_date`, `*_at`, `*_on`; its `last_sync` column does not count): a `year`
   filter on that column. This is how the guide's `historical_orders(self, year: int)` loads.

Anything else is an error. An argument is nullable when it has a default or is `X | None`.
For a composite root field (no `@database`), every argument fills the column of the same name of
the virtual type it builds, and every non-null column needs one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from dbmesh.schema._annotations import Fail, column_scalar, describe, split
from dbmesh.schema.model import MISSING, Argument, ArgumentKind, Column, ObjectType, Scalar
from dbmesh.schema.naming import to_camel

__all__ = ["OPERATORS", "composite_arguments", "field_arguments"]

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "like", "ilike", "is_null", "year")
_LIST_OPERATORS = ("in", "nin")
_AUTOMATIC = {"where": "where", "order_by": "orderBy", "orderBy": "orderBy"}
_PAGING = {"limit": ArgumentKind.LIMIT, "offset": ArgumentKind.OFFSET}
_DATE_SUFFIXES = ("_date", "_at", "_on")
_NO_ANNOTATION: Any = object()


def _parameters(func: Callable[..., Any], fail: Fail) -> list[inspect.Parameter]:
    """The parameters after `self`."""
    params = list(inspect.signature(func).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].name != "self" or params[0].kind not in positional:
        fail("the first parameter must be self")
    for p in params[1:]:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            fail(f"argument {p.name!r}: *args and **kwargs are not supported; name each argument")
    return params[1:]


def _shape(p: inspect.Parameter, hints: Mapping[str, Any], fail: Fail) -> tuple[Any, bool, bool]:
    """`(inner, is_list, nullable)`; inner is `_NO_ANNOTATION` for an unannotated argument."""
    annotation = hints.get(p.name, _NO_ANNOTATION)
    has_default = p.default is not inspect.Parameter.empty
    if annotation is _NO_ANNOTATION:
        return annotation, False, has_default
    inner, is_list, optional = split(annotation)
    if column_scalar(inner) is None:
        fail(f"argument {p.name!r}: unsupported annotation {describe(annotation)}")
    return split(inner)[0], is_list, has_default or optional


def _mapping(args: Any, names: list[str], target: ObjectType, fail: Fail) -> dict[str, tuple[Column, str]]:
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        fail(f"args= must be a dict {{argument: (column, operator)}}, not {args!r}")
    mapping: dict[str, tuple[Column, str]] = {}
    for name, spec in args.items():
        if name not in names:
            fail(f"args= maps {name!r}, which is not an argument of this field")
        if not (isinstance(spec, tuple | list) and len(spec) == 2 and all(isinstance(s, str) for s in spec)):
            fail(f"args= maps {name!r} to {spec!r}; expected a pair (column, operator)")
        column_name, operator = spec
        if operator not in OPERATORS:
            fail(f"args= maps {name!r} to unknown operator {operator!r}; operators: {', '.join(OPERATORS)}")
        column = target.column(column_name)
        if column is None:
            fail(f"args= maps {name!r} to column {column_name!r}, which {target.name} does not have")
        if operator == "year" and column.scalar not in (Scalar.DATE, Scalar.DATETIME, Scalar.STRING):
            fail(f"args= maps {name!r} to 'year' of {column_name!r}, a {column.scalar.value}, not a date")
        mapping[name] = (column, operator)
    return mapping


def _date_columns(target: ObjectType) -> list[str]:
    return [
        c.name
        for c in target.columns
        if c.name != target.last_sync_column
        and (c.scalar in (Scalar.DATE, Scalar.DATETIME) or c.name == "date" or c.name.endswith(_DATE_SUFFIXES))
    ]


def field_arguments(
    func: Callable[..., Any],
    hints: Mapping[str, Any],
    args: Any,
    target: ObjectType,
    many: bool,
    fail: Fail,
) -> tuple[Argument, ...]:
    """The arguments of a root field or relation served by a database (rules in the docstring)."""
    params = _parameters(func, fail)
    mapping = _mapping(args, [p.name for p in params], target, fail)
    arguments: list[Argument] = []
    for p in params:
        name = p.name
        inner, is_list, nullable = _shape(p, hints, fail)
        if many and name in _AUTOMATIC:
            fail(f"argument {name!r} clashes with the automatic {_AUTOMATIC[name]!r} of list fields")
        kind, op = ArgumentKind.FILTER, "in" if is_list else "eq"
        column_name: str | None = name
        if name in mapping:
            mapped, op = mapping[name]
            if is_list != (op in _LIST_OPERATORS):
                needs = "a list[...] argument" if op in _LIST_OPERATORS else "a single value, not a list"
                fail(f"argument {name!r}: operator {op!r} needs {needs}")
            column_name = mapped.name
            scalar = {"year": Scalar.INT, "is_null": Scalar.BOOLEAN}.get(op, mapped.scalar)
        elif name in _PAGING:
            if not many:
                fail(f"argument {name!r} pages a list, and this field returns one object")
            if is_list or inner not in (int, _NO_ANNOTATION):
                fail(f"argument {name!r} must be an int")
            kind, scalar, column_name, op = _PAGING[name], Scalar.INT, None, "eq"
        elif (column := target.column(name)) is not None:
            scalar = column.scalar
        elif name == "year" and inner is int and not is_list and len(_date_columns(target)) == 1:
            scalar, column_name, op = Scalar.INT, _date_columns(target)[0], "year"
        else:
            problem = f"is not a column of {target.name}"
            if name == "year" and inner is int and not is_list and _date_columns(target):
                problem = f"could filter any of {', '.join(_date_columns(target))} of {target.name}"
            fail(f"argument {name!r} {problem}; map it with args={{{name!r}: (column, operator)}}")
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        arguments.append(Argument(name, to_camel(name), kind, scalar, nullable, is_list, default, column_name, op))
    return tuple(arguments)


def composite_arguments(
    func: Callable[..., Any], hints: Mapping[str, Any], target: ObjectType, fail: Fail
) -> tuple[Argument, ...]:
    """The arguments of a composite root field: the values of its virtual type's columns."""
    arguments: list[Argument] = []
    for p in _parameters(func, fail):
        column = target.column(p.name)
        if column is None:
            fail(
                f"argument {p.name!r} is not a column of {target.name}; "
                "the arguments of a root field without @database fill its type's columns"
            )
        _, is_list, nullable = _shape(p, hints, fail)
        if is_list:
            fail(f"argument {p.name!r} fills the column {target.name}.{p.name} and cannot be a list")
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        arguments.append(
            Argument(p.name, to_camel(p.name), ArgumentKind.FILTER, column.scalar, nullable, False, default, p.name)
        )
    filled = {a.name for a in arguments}
    unfilled = [c.name for c in target.columns if not c.nullable and c.name not in filled]
    if unfilled:
        fail(f"no argument fills the non-null column(s) {', '.join(unfilled)} of {target.name}")
    return tuple(arguments)
