"""The custom scalars of docs/reference.md §4: DateTime, Date, Decimal and JSON.

Output values arrive from the resolvers already canonical (ISO 8601 UTC strings ending in `Z`,
YYYY-MM-DD, exact decimal strings, JSON values), so output coercion only checks the type.
Input coercion validates what a client sends and keeps it as text; the planner turns it into a
contract value of the right kind.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import (
    BooleanValueNode,
    FloatValueNode,
    GraphQLError,
    GraphQLScalarType,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    print_ast,
)

__all__ = ["SCALARS", "DateScalar", "DateTimeScalar", "DecimalScalar", "JSONScalar"]


def _string_literal(name: str, node: ValueNode) -> str:
    if not isinstance(node, StringValueNode):
        raise GraphQLError(f"{name} cannot represent a non string value: {print_ast(node)}", node)
    return node.value


def _datetime_in(value: Any) -> str:
    if not isinstance(value, str):
        raise GraphQLError(f"DateTime cannot represent a non string value: {value!r}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLError(f"DateTime cannot represent {value!r}: expected ISO 8601") from None
    return value


def _date_in(value: Any) -> str:
    if not isinstance(value, str):
        raise GraphQLError(f"Date cannot represent a non string value: {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise GraphQLError(f"Date cannot represent {value!r}: expected YYYY-MM-DD") from None
    return value


# What a Decimal input may be (docs/reference.md §4): the same bounds as the resolvers' for a
# column without a declared precision (services/values.py), so a hostile value such as "1e999999999"
# is refused here, cheaply, before any fetch. A column's own precision is checked by its resolver.
MAX_DECIMAL_DIGITS = 1000  # significant digits, and digits on either side of the point
_MAX_DECIMAL_TEXT = 4 * MAX_DECIMAL_DIGITS


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...' ({len(str(value))} characters)"


def _decimal_in(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise GraphQLError(f"Decimal cannot represent {_shown(value)}: expected a decimal string")
    text = repr(value) if isinstance(value, float) else str(value)
    if len(text) > _MAX_DECIMAL_TEXT:
        raise GraphQLError(f"Decimal cannot represent {_shown(value)}: longer than {_MAX_DECIMAL_TEXT} characters")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise GraphQLError(f"Decimal cannot represent {_shown(value)}: expected a decimal string") from None
    if not number.is_finite():
        raise GraphQLError(f"Decimal cannot represent {_shown(value)}: not finite")
    parts = number.as_tuple()
    digits = len(parts.digits)
    before = number.adjusted() + 1 if number else 0  # digits before the point
    after = max(0, -int(parts.exponent))  # digits after the point, zeros included
    if digits > MAX_DECIMAL_DIGITS or before > MAX_DECIMAL_DIGITS or after > MAX_DECIMAL_DIGITS:
        raise GraphQLError(
            f"Decimal cannot represent {_shown(value)}: more than {MAX_DECIMAL_DIGITS} digits "
            "(significant, before or after the point)"
        )
    return text


def _decimal_literal(node: ValueNode, _variables: Any = None) -> str:
    if isinstance(node, (StringValueNode, IntValueNode, FloatValueNode)):
        return _decimal_in(node.value)
    raise GraphQLError(f"Decimal cannot represent {print_ast(node)}", node)


def _json_literal(node: ValueNode, variables: Any = None) -> Any:
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, StringValueNode):
        return node.value
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, FloatValueNode):
        return float(node.value)
    if isinstance(node, ListValueNode):
        return [_json_literal(v, variables) for v in node.values]
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _json_literal(f.value, variables) for f in node.fields}
    if isinstance(node, VariableNode):
        raise GraphQLError("JSON literals cannot contain variables", node)
    raise GraphQLError(f"JSON cannot represent {print_ast(node)}", node)


def _same(value: Any) -> Any:
    return value


DateTimeScalar = GraphQLScalarType(
    "DateTime",
    description="An ISO 8601 timestamp; values from dbmesh are in UTC and end in `Z`.",
    coerce_output_value=str,
    coerce_input_value=_datetime_in,
    coerce_input_literal=lambda node, _v=None: _datetime_in(_string_literal("DateTime", node)),  # type: ignore[misc]
    specified_by_url="https://datatracker.ietf.org/doc/html/rfc3339",
)
DateScalar = GraphQLScalarType(
    "Date",
    description="A calendar date, YYYY-MM-DD.",
    coerce_output_value=str,
    coerce_input_value=_date_in,
    coerce_input_literal=lambda node, _v=None: _date_in(_string_literal("Date", node)),  # type: ignore[misc]
)
DecimalScalar = GraphQLScalarType(
    "Decimal",
    description='An exact decimal number, as a string (e.g. "12.50").',
    coerce_output_value=str,
    coerce_input_value=_decimal_in,
    coerce_input_literal=_decimal_literal,
)
JSONScalar = GraphQLScalarType(
    "JSON",
    description="Any JSON value.",
    coerce_output_value=_same,
    coerce_input_value=_same,
    coerce_input_literal=_json_literal,
)

SCALARS = {s.name: s for s in (DateTimeScalar, DateScalar, DecimalScalar, JSONScalar)}
