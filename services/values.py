"""Values between the contract and Python, in one canonical form whatever the engine (docs/reference.md §8).

`from_proto` turns a contract `Value` into a plain Python value whose type says what it is
(Decimal for decimals, UUID for UUIDs, aware datetimes, `Json` for JSON documents). A dialect then
binds it for a given column. `reader` turns what a driver returned for a column into the canonical
form the service sends back: booleans as booleans (not 0/1), decimals as exact strings at the
column's scale, UUIDs lower-case and hyphenated, timestamps ISO 8601 in UTC with a `Z`, dates
YYYY-MM-DD, JSON as a JSON value.

Decimals are bounded before anything expands them (docs/reference.md §8). A `Decimal` is a
coefficient and an exponent, so `"1e999999999"` is a few bytes, but writing it out positionally
(`format(d, "f")`, which SQLite's and MySQL's bindings do), quantizing it or turning it into an
`int` builds a billion digits. `bounded_decimal` refuses, with INVALID_ARGUMENT naming the column,
any decimal in a request (predicate operands, variable sets, written values) that has

- more digits before the point than the column holds: `p - s` for a decimal column declared
  `NUMERIC(p, s)` (p and s as introspected), else `MAX_INTEGER_DIGITS` (1000);
- more than `MAX_FRACTION_DIGITS` (1000) digits after the point (a decimal column rounds the ones
  beyond its scale, as before);
- more than `MAX_SIGNIFICANT_DIGITS` (1000) significant digits.

Within those bounds a decimal written out is at most a few thousand characters, whatever the
engine does with it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import orjson

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import ColumnInfo, Logical
from dbmesh.services.errors import InvalidArgument

__all__ = [
    "MAX_FRACTION_DIGITS",
    "MAX_INTEGER_DIGITS",
    "MAX_SIGNIFICANT_DIGITS",
    "Json",
    "bounded_decimal",
    "canonical_value",
    "from_proto",
    "key_value",
    "parse_datetime",
    "reader",
    "to_proto",
]

MAX_INTEGER_DIGITS = 1000
MAX_FRACTION_DIGITS = 1000
MAX_SIGNIFICANT_DIGITS = 1000
# Quantizing a value read back at its column's scale: the default context's 28 digits are fewer
# than a DECIMAL(65, 30) holds. Values read from a database are bounded by what it stores.
_READ_CONTEXT = Context(prec=100_000)


class Json(str):
    """A JSON document as text, so that a dialect can tell it from a plain string."""


def parse_datetime(text: str) -> datetime:
    """ISO 8601 (a space instead of `T` and a trailing `Z` accepted); naive values are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{text!r} is not an ISO 8601 timestamp") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _shown(number: Decimal) -> str:
    """`number` short enough for a message, without writing out a long one."""
    sign, digits, exponent = number.as_tuple()
    if len(digits) <= 40:
        text = str(number)  # scientific notation for large exponents: never expanded
        return text if len(text) <= 40 else text[:37] + "..."
    assert isinstance(exponent, int)
    return f"{'-' if sign else ''}{''.join(map(str, digits[:20]))}... ({len(digits)} digits, exponent {exponent})"


def _where(column: ColumnInfo, number: Decimal) -> str:
    """How an error names the column and the decimal (built only for an error: it is not cheap)."""
    return f"column {column.name!r} ({column.db_type}): decimal {_shown(number)!r}"


def bounded_decimal(column: ColumnInfo, number: Decimal) -> Decimal:
    """`number`, if it is within the bounds of the module docstring for `column`."""
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # callers pass finite decimals
    if len(digits) > MAX_SIGNIFICANT_DIGITS:
        raise InvalidArgument(
            f"{_where(column, number)} has {len(digits)} significant digits, more than a request may carry"
            f" ({MAX_SIGNIFICANT_DIGITS})"
        )
    integer_digits = max(0, len(digits) + exponent)  # as written out: "0E+5" is "000000"
    if any(digits) and column.logical == Logical.DECIMAL and column.precision is not None:
        limit = max(0, column.precision - (column.scale or 0))
        if integer_digits > limit:
            raise InvalidArgument(
                f"{_where(column, number)} has {integer_digits} digits before the point, more than the column"
                f" holds ({limit})"
            )
    if integer_digits > MAX_INTEGER_DIGITS:
        raise InvalidArgument(
            f"{_where(column, number)} has {integer_digits} digits before the point, more than a request may carry "
            f"({MAX_INTEGER_DIGITS})"
        )
    if -exponent > MAX_FRACTION_DIGITS:
        raise InvalidArgument(
            f"{_where(column, number)} has {-exponent} digits after the point, more than a request may carry"
            f" ({MAX_FRACTION_DIGITS})"
        )
    return number


def from_proto(value: pb.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null":
        return None
    raw = getattr(value, kind)
    if kind in ("boolean", "int", "float", "string"):
        return raw
    if kind == "decimal":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise InvalidArgument(f"{raw!r} is not a decimal") from None
        if not number.is_finite():
            raise InvalidArgument(f"{raw!r} is not a finite decimal")
        return number
    if kind == "uuid":
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise InvalidArgument(f"{raw!r} is not a UUID") from None
    if kind == "datetime":
        return parse_datetime(raw)
    if kind == "date":
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidArgument(f"{raw!r} is not a date (YYYY-MM-DD)") from None
    if kind == "json":
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidArgument(f"{raw[:40]!r} is not a JSON document") from None
        return Json(raw)
    raise InvalidArgument(f"unsupported value kind {kind!r}")  # pragma: no cover - proto is closed


def to_proto(value: Any) -> pb.Value:
    """The inverse of `from_proto`, for clients and tests."""
    if value is None:
        return pb.Value(null=True)
    if isinstance(value, bool):
        return pb.Value(boolean=value)
    if isinstance(value, int):
        return pb.Value(int=value)
    if isinstance(value, float):
        return pb.Value(float=value)
    if isinstance(value, Decimal):
        return pb.Value(decimal=format(value, "f"))
    if isinstance(value, uuid.UUID):
        return pb.Value(uuid=str(value))
    if isinstance(value, datetime):
        return pb.Value(datetime=value.isoformat())
    if isinstance(value, date):
        return pb.Value(date=value.isoformat())
    if isinstance(value, Json):
        return pb.Value(json=str(value))
    if isinstance(value, (dict, list)):
        return pb.Value(json=orjson.dumps(value).decode())
    return pb.Value(string=str(value))


# --- reading: driver value -> canonical value ------------------------------------------------


def _string(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, datetime):
        return _datetime(v)
    if isinstance(v, date):
        return v.isoformat()
    return v if isinstance(v, str) else str(v)


def _int(v: Any) -> int:
    return int(v)


def _float(v: Any) -> float:
    return float(v)


def _boolean(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "t", "true", "y", "yes", "on")
    if isinstance(v, (bytes, bytearray)):  # MySQL BIT(1)
        return any(v)
    return bool(v)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(v: Any) -> str:
    if isinstance(v, str) and _CANONICAL_UUID.fullmatch(v):  # already canonical: the common case
        return v
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray)) and len(v) == 16:
        return str(uuid.UUID(bytes=bytes(v)))
    text = str(_string(v))
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(text).lower()


def _datetime(v: Any) -> str:
    moment: datetime
    if isinstance(v, str):
        moment = parse_datetime(v)
    elif isinstance(v, datetime):
        moment = v if v.tzinfo else v.replace(tzinfo=UTC)
    else:
        moment = datetime(v.year, v.month, v.day, tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _date(v: Any) -> str:
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return date.fromisoformat(str(v)[:10]).isoformat()


def _decimal(scale: int | None) -> Callable[[Any], str]:
    quantum = Decimal(1).scaleb(-scale) if scale is not None else None

    def read(v: Any) -> str:
        # A float (SQLite stores NUMERIC as REAL) goes through its shortest repr, not its binary
        # expansion, so 12.5 becomes "12.50" at scale 2 rather than 12.4999...
        number = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        if quantum is not None:
            number = number.quantize(quantum, context=_READ_CONTEXT)
        return format(number, "f")

    return read


def _json(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, str)):
        return orjson.loads(v)
    return v


_READERS: dict[Logical, Callable[[Any], Any]] = {
    Logical.STRING: _string,
    Logical.INT: _int,
    Logical.FLOAT: _float,
    Logical.BOOLEAN: _boolean,
    Logical.UUID: _uuid,
    Logical.DATETIME: _datetime,
    Logical.DATE: _date,
    Logical.JSON: _json,
}


# Readers of the types every response is full of, NULL included, in one call: the driver's value
# is returned as it is when it already is canonical (bench/results/mysql-driver.md has what it saves).
_canonical_uuid = _CANONICAL_UUID.fullmatch


def _read_int(v: Any) -> Any:
    return v if v is None or type(v) is int else int(v)


def _read_float(v: Any) -> Any:
    return v if v is None or type(v) is float else float(v)


def _read_string(v: Any) -> Any:
    return v if v is None or type(v) is str else _string(v)


def _read_uuid(v: Any) -> Any:
    return v if v is None or (type(v) is str and _canonical_uuid(v) is not None) else _uuid(v)


_NULLABLE_READERS: dict[Logical, Callable[[Any], Any]] = {
    Logical.INT: _read_int,
    Logical.FLOAT: _read_float,
    Logical.STRING: _read_string,
    Logical.UUID: _read_uuid,
}


def reader(logical: Logical, column: ColumnInfo) -> Callable[[Any], Any]:
    """The function turning a driver's value of `column` into the canonical form of `logical`
    (the column's own logical type when `logical` is UNSPECIFIED). NULL stays None."""
    if logical == Logical.UNSPECIFIED:
        logical = column.logical
    if logical != Logical.DECIMAL and logical in _NULLABLE_READERS:
        return _NULLABLE_READERS[logical]
    read = _decimal(column.scale) if logical == Logical.DECIMAL else _READERS.get(logical, _string)

    def read_nullable(v: Any) -> Any:
        return None if v is None else read(v)

    return read_nullable


def canonical_value(value: Any, logical: Logical) -> pb.Value:
    """A canonical value read from a row (what `reader` returns), as a contract value of the
    logical type it was read as: the form a router sends it back in as a key (`router.requests.to_value`)."""
    if value is None:
        return pb.Value(null=True)
    if logical == Logical.UUID:
        try:
            return pb.Value(uuid=str(uuid.UUID(str(value))))
        except ValueError:
            return pb.Value(string=str(value))
    if logical == Logical.JSON:
        return pb.Value(json=orjson.dumps(value).decode())
    kind, convert = _CANONICAL_KINDS.get(logical, ("string", str))
    return pb.Value(**{kind: convert(value)})


def key_value(value: Any, logical: Logical) -> Any:
    """`from_proto(canonical_value(value, logical))` without the contract value between: a
    canonical value read from a row as the key a request nested under that row binds
    (services.nesting), exactly as if the router had sent it back."""
    if value is None:
        return None
    if logical == Logical.UUID:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            return str(value)
    if logical == Logical.INT:
        return int(value)
    if logical == Logical.STRING or logical == Logical.UNSPECIFIED:
        return str(value)
    return from_proto(canonical_value(value, logical))


# The contract value kind of each logical type a canonical value converts to directly.
_CANONICAL_KINDS: dict[Logical, tuple[str, Callable[[Any], Any]]] = {
    Logical.INT: ("int", int),
    Logical.FLOAT: ("float", float),
    Logical.BOOLEAN: ("boolean", bool),
    Logical.DATETIME: ("datetime", str),
    Logical.DATE: ("date", str),
    Logical.DECIMAL: ("decimal", str),
}
