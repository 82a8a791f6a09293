"""The comparison form of canonical values (docs/reference.md §8, §13), shared by the resolver's
`Checksum` (services/checksums.py) and the comparing process (dbmesh/reconcile.py), so that both
sides hash and compare exactly the same text.

A canonical value (as `Query` returns it) is turned into its comparison form:

- decimal: the exact number without trailing fractional zeros, so `"12.50"` (PostgreSQL
  `numeric(10,2)`) equals `"12.5"` (SQLite `REAL`, read as a decimal); `-0.00` is `"0"`;
- JSON: the document with sorted keys;
- everything else as it is (booleans, ints, floats, lower-case UUIDs, UTC timestamps ending in `Z`,
  dates; strings keep trailing spaces and case: they are differences).

A row's digest is the MD5 of its text (`row_text`: the comparison forms, delimited, which
PostgreSQL and MariaDB can also write in SQL); a segment's checksum is the sum (mod 2^64) of its
rows' digests' first 8 bytes, order-independent like reladiff's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = [
    "MASK",
    "comparable",
    "group",
    "key_in",
    "key_order",
    "key_range",
    "row_digest",
    "row_text",
    "segment_hash",
    "to_value",
    "value_field",
]

MASK = (1 << 64) - 1


def _decimal(value: Any) -> Any:
    number = Decimal(str(value))
    if not number:
        return "0"
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _moment(value: Any) -> Any:
    """A canonical timestamp (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`) with the fraction's trailing zeros
    (and a bare point) dropped: the form PostgreSQL's `timestamp::text` writes, so that it hashes
    a timestamp without a CASE or `to_char` (~25 % of its CPU per row, bench/results/reconcile-latest.md)."""
    text = str(value)
    point = text.find(".")
    if point < 0:
        return text
    end = len(text) - 1 if text.endswith("Z") else len(text)
    digits = text[point + 1 : end].rstrip("0")
    return text[:point] + ("." + digits if digits else "") + text[end:]


def _same(value: Any) -> Any:
    return value


_FORMS: dict[int, Callable[[Any], Any]] = {
    pb.LOGICAL_TYPE_DECIMAL: _decimal,
    pb.LOGICAL_TYPE_JSON: _json,
    pb.LOGICAL_TYPE_DATETIME: _moment,
}


def comparable(logical: int) -> Callable[[Any], Any]:
    """The function turning a canonical value of `logical` into its comparison form (None stays)."""
    form = _FORMS.get(logical, _same)

    def convert(value: Any) -> Any:
        return None if value is None else form(value)

    return convert


def _text(value: Any) -> str:
    if value is None:
        return "N"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return "V" + text.replace("\\", "\\\\").replace("|", "\\|") + "|"


def row_text(values: Sequence[Any]) -> str:
    """The row's comparison forms as one text: `N` for NULL, else `V<text>|` per value, `\\` and
    `|` in the text escaped with a backslash (only strings can hold them), so that a database can
    write it in SQL with each value computed once (services/checksum_sql.py)."""
    return "".join(_text(v) for v in values)


def row_digest(values: Sequence[Any]) -> int:
    """The first 8 bytes of the MD5 of the row's text, as an unsigned integer."""
    digest = hashlib.md5(row_text(values).encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big")


def segment_hash() -> Any:
    """A segment's checksum as it is computed: `update` it with each row's text (`row_text`,
    UTF-8) in key order; `hexdigest()` is the checksum, the MD5 of the texts concatenated (the
    texts are self-delimiting, so the concatenation names the rows). Not a sum: two segments'
    checksums do not combine into the checksum of both (services/checksum_sql.py computes the
    same in SQL)."""
    return hashlib.md5(usedforsecurity=False)


def _datetime(value: Any) -> Any:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


_ORDERS: dict[int, Callable[[Any], Any]] = {
    pb.LOGICAL_TYPE_DECIMAL: lambda v: Decimal(str(v)),
    pb.LOGICAL_TYPE_DATETIME: _datetime,
}


def key_order(logicals: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A sort key for canonical keys of these logical types, in the order the databases sort them
    (numbers by value, strings and UUIDs by code point, timestamps by instant)."""
    orders = [_ORDERS.get(logical, _same) for logical in logicals]

    def order(key: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(f(v) for f, v in zip(orders, key, strict=True))

    return order


def distinct_keys(rows: Iterable[Sequence[Any]], columns: Sequence[int]) -> list[tuple[Any, ...]]:
    """The distinct keys (the values at `columns`) of canonical `rows`, in order of first
    appearance, without keys with a null part (null equals nothing). The router batches a relation
    over its parent rows' keys, and a resolver a nested request over them (docs/reference.md §8):
    both by this one function, so they agree on the keys and their order."""
    if len(columns) == 1:  # every relation on a single-column key: no tuple per row
        (i,) = columns
        return [(value,) for value in dict.fromkeys(row[i] for row in rows) if value is not None]
    return list(dict.fromkeys(key for row in rows if None not in (key := tuple(row[i] for i in columns))))


def to_value(logical: int, value: Any) -> pb.Value:
    """A canonical value of `logical` (as a Query's JSON rows carry it, §8) as a contract `Value`,
    to bind in a predicate or write back (dbmesh.sync). A value that
    is not one of that type goes as a string, for the resolver to refuse naming the column
    (`column 'id' (integer): 'abc' is not a valid value`), never rounded or coerced here."""
    kind, field = value_field(logical, value)
    return pb.Value(**{kind: field})


def value_field(logical: int, value: Any) -> tuple[str, Any]:
    """`to_value(logical, value)` as the `Value` field to set and its content, for filling a
    `Value` in place (a row of a large write: building each `Value` apart and handing it to the
    row's map copies it)."""
    if value is None:
        return "null", True
    exact = isinstance(value, int) and not isinstance(value, bool)
    if logical == pb.LOGICAL_TYPE_INT and exact:
        return "int", value
    if logical == pb.LOGICAL_TYPE_FLOAT and (exact or isinstance(value, float)):
        return "float", float(value)
    if logical == pb.LOGICAL_TYPE_BOOLEAN and isinstance(value, bool):
        return "boolean", value
    if logical == pb.LOGICAL_TYPE_DECIMAL and (exact or isinstance(value, (float, str))):
        return "decimal", str(value)
    if logical == pb.LOGICAL_TYPE_JSON:
        return "json", orjson.dumps(value).decode()
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return _TEXT_FIELDS.get(logical, "string"), text


_TEXT_FIELDS: dict[int, str] = {
    pb.LOGICAL_TYPE_UUID: "uuid",
    pb.LOGICAL_TYPE_DATETIME: "datetime",
    pb.LOGICAL_TYPE_DATE: "date",
}


def _cmp(column: str, op: int, value: pb.Value) -> pb.Expression:
    return pb.Expression(
        comparison=pb.Comparison(column=column, operator=op, operand=pb.Operand(value=value))  # type: ignore[arg-type]
    )


def group(kind: str, parts: Sequence[pb.Expression]) -> pb.Expression:
    """An `and` / `or` expression of `parts` (Python keywords, hence getattr)."""
    expr = pb.Expression()
    node = getattr(expr, kind)
    node.SetInParent()
    node.expressions.extend(parts)
    return expr


def _and(parts: Sequence[pb.Expression]) -> pb.Expression:
    return group("and", parts)


def _or(parts: Sequence[pb.Expression]) -> pb.Expression:
    return group("or", parts)


def _tuple_compare(columns: Sequence[str], values: Sequence[pb.Value], op: int, inclusive: bool) -> pb.Expression:
    """`(columns) op (values)` in tuple order, as a predicate tree: for `>`, c1 > v1 OR (c1 = v1
    AND c2 > v2) OR ..., with `c1 >= v1` in front so an index on the key bounds the scan."""
    if len(columns) == 1:
        return _cmp(
            columns[0], (pb.OPERATOR_GTE if op == pb.OPERATOR_GT else pb.OPERATOR_LTE) if inclusive else op, values[0]
        )
    terms = []
    for i, column in enumerate(columns):
        prefix = [_cmp(c, pb.OPERATOR_EQ, v) for c, v in zip(columns[:i], values[:i], strict=True)]
        terms.append(_and([*prefix, _cmp(column, op, values[i])]))
    if inclusive:
        terms.append(_and([_cmp(c, pb.OPERATOR_EQ, v) for c, v in zip(columns, values, strict=True)]))
    either = _or(terms) if len(terms) > 1 else terms[0]
    if len(columns) == 1:
        return either
    leading = pb.OPERATOR_GTE if op == pb.OPERATOR_GT else pb.OPERATOR_LTE
    return _and([_cmp(columns[0], leading, values[0]), either])


def key_range(
    columns: Sequence[str],
    logicals: Sequence[int],
    *,
    where: pb.Expression | None = None,
    lower: Sequence[Any] | None = None,
    upper: Sequence[Any] | None = None,
    after: Sequence[Any] | None = None,
) -> pb.Expression:
    """`where` AND key >= lower AND key < upper AND key > after (each bound optional)."""
    parts = [where] if where is not None else []

    def values(key: Sequence[Any]) -> list[pb.Value]:
        return [to_value(t, v) for t, v in zip(logicals, key, strict=True)]

    if lower:
        parts.append(_tuple_compare(columns, values(lower), pb.OPERATOR_GT, inclusive=True))
    if after:
        parts.append(_tuple_compare(columns, values(after), pb.OPERATOR_GT, inclusive=False))
    if upper:
        parts.append(_tuple_compare(columns, values(upper), pb.OPERATOR_LT, inclusive=False))
    return _and(parts)


def key_in(
    columns: Sequence[str], logicals: Sequence[int], keys: Sequence[Sequence[Any]], where: pb.Expression | None = None
) -> pb.Expression:
    """`where` AND the key is one of `keys` (IN for one column, an OR of ANDs for several)."""
    if len(columns) == 1:
        values = pb.ValueList(values=[to_value(logicals[0], k[0]) for k in keys])
        match = _cmp_list(columns[0], values)
    else:
        match = _or(
            [
                _and([_cmp(c, pb.OPERATOR_EQ, to_value(t, v)) for c, t, v in zip(columns, logicals, key, strict=True)])
                for key in keys
            ]
        )
    return _and([where, match]) if where is not None else match


def _cmp_list(column: str, values: pb.ValueList) -> pb.Expression:
    return pb.Expression(
        comparison=pb.Comparison(column=column, operator=pb.OPERATOR_IN, operand=pb.Operand(list=values))
    )
