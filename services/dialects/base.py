"""What differs between SQL engines, in one small class per engine.

The compiler (`services.compiler`) builds every statement through a `Dialect`: how identifiers are
quoted, what a placeholder looks like, how a Python value is bound for a column, how NULLs sort,
how exact (case-sensitive, code-point) string comparison and ordering are spelled, how many
parameters a statement may carry. Identifiers reaching a dialect were already checked against the
introspected catalog; quoting them is defence in depth, not the check. Values are never put into
SQL text: `Params.add` binds them and returns a placeholder.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dbmesh.services.catalog import ColumnInfo, Logical
from dbmesh.services.errors import InvalidArgument
from dbmesh.services.values import Json, bounded_decimal, parse_datetime

__all__ = ["Dialect", "Params"]


class Params:
    """The bound values of one statement, in placeholder order."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return self.dialect.placeholder(len(self.values))

    def bind(self, column: ColumnInfo, value: Any) -> str:
        return self.add(self.dialect.bind(column, value))

    def extend(self, values: list[Any]) -> list[str]:
        """`add` for each of `values` (already bound), in order: their placeholders."""
        start = len(self.values) + 1
        self.values += values
        return self.dialect.placeholders(start, len(values))


class Dialect:
    name = "sql"
    # Bound parameters one statement may carry; longer IN lists are split into several statements.
    max_params = 999
    # Appended to LIKE so that `\` escapes `%` and `_` on every engine.
    like_escape = " ESCAPE '\\'"
    # Which writes can end in `RETURNING` (otherwise rows are named by primary key first).
    insert_returning = True
    update_returning = True
    delete_returning = True
    # Whether an upsert can name its conflict columns (ON CONFLICT (cols)); else services.writes
    # runs it as lock, insert and update by key.
    named_conflict = True

    # --- text -----------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def placeholder(self, index: int) -> str:
        return "?"

    def placeholders(self, start: int, count: int) -> list[str]:
        """The placeholders of parameters `start` .. `start + count - 1`."""
        return [self.placeholder(i) for i in range(start, start + count)]

    def column(self, column: ColumnInfo, table_alias: str | None = None) -> str:
        quoted = self.quote(column.name)
        return f"{table_alias}.{quoted}" if table_alias else quoted

    def exact(self, sql: str, column: ColumnInfo) -> str:
        """`sql` compared or sorted exactly, in code-point order."""
        if column.exact_collation:
            return f"{sql} COLLATE {self.quote(column.exact_collation)}"
        return sql

    # --- predicates ---------------------------------------------------------------------------

    def compare(self, column: ColumnInfo, sql: str, op: str, placeholder: str) -> str:
        """`sql <op> placeholder` for =, <>, <, <=, >, >=."""
        if op in ("=", "<>"):
            if column.case_insensitive:
                # The plain comparison lets an index narrow; the exact one decides.
                exact = f"{self.exact(sql, column)} {op} {placeholder}"
                # Only a numbered or named placeholder may appear twice; a positional `?` binds
                # one value per occurrence.
                if op == "=" and self.placeholder(1) != self.placeholder(2):
                    return f"({sql} = {placeholder} AND {exact})"
                return exact
            return f"{sql} {op} {placeholder}"
        return f"{self.exact(sql, column)} {op} {placeholder}"

    def in_values(self, column: ColumnInfo, sql: str, values: list[Any], params: Params) -> str:
        """`sql IN (values)`; an empty list is false."""
        if not values:
            return "1 = 0"
        placeholders = ", ".join(params.bind(column, v) for v in values)
        plain = f"{sql} IN ({placeholders})"
        if column.case_insensitive:
            again = ", ".join(params.bind(column, v) for v in values)
            return f"({plain} AND {self.exact(sql, column)} IN ({again}))"
        return plain

    def in_params_per_value(self, column: ColumnInfo) -> int:
        return 2 if column.case_insensitive else 1

    def max_in_values(self, columns: list[ColumnInfo], other_params: int) -> int | None:
        """How many key tuples over `columns` fit in one statement beside `other_params` bound
        values; None when there is no limit (the dialect binds the whole list as one array)."""
        per_key = sum(self.in_params_per_value(c) for c in columns)
        return max(1, (self.max_params - other_params) // per_key)

    def in_keys(self, columns: list[ColumnInfo], sqls: list[str], keys: list[tuple[Any, ...]], params: Params) -> str:
        """`(a, b) IN ((?, ?), ...)` over key tuples (already bound values)."""
        if len(columns) == 1:
            return self.in_values(columns[0], sqls[0], [k[0] for k in keys], params)
        rows = ", ".join("(" + ", ".join(params.add(v) for v in key) + ")" for key in keys)
        plain = f"({', '.join(sqls)}) IN ({rows})"
        if any(c.case_insensitive for c in columns):
            exact_cols = ", ".join(self.exact(s, c) for s, c in zip(sqls, columns, strict=True))
            again = ", ".join("(" + ", ".join(params.add(v) for v in key) + ")" for key in keys)
            return f"({plain} AND ({exact_cols}) IN ({again}))"
        return plain

    def like(self, column: ColumnInfo, sql: str, placeholder: str) -> str:
        """Case-sensitive LIKE."""
        return f"{self.exact(sql, column) if column.case_insensitive else sql} LIKE {placeholder}{self.like_escape}"

    def ilike(self, column: ColumnInfo, sql: str, placeholder: str) -> str:
        return f"LOWER({sql}) LIKE LOWER({placeholder}){self.like_escape}"

    # --- ordering and paging ------------------------------------------------------------------

    def order_term(self, column: ColumnInfo, sql: str, descending: bool) -> str:
        """Ascending puts NULLs last, descending first, on every engine (docs/reference.md §4)."""
        exact = self.exact(sql, column)
        if not column.nullable:
            return f"{exact} DESC" if descending else f"{exact} ASC"
        return f"{exact} DESC NULLS FIRST" if descending else f"{exact} ASC NULLS LAST"

    def limit_offset(self, limit: str | None, offset: str | None) -> str:
        parts = []
        if limit is not None:
            parts.append(f"LIMIT {limit}")
        if offset is not None:
            parts.append(f"OFFSET {offset}")
        return " ".join(parts)

    # --- writes -------------------------------------------------------------------------------

    def upsert_clause(self, conflict: list[ColumnInfo], updates: list[ColumnInfo]) -> str:
        """What follows `INSERT ... VALUES ...` to update the row a conflict on `conflict` hits."""
        keys = ", ".join(self.column(c) for c in conflict)
        if not updates:
            return f"ON CONFLICT ({keys}) DO NOTHING"
        sets = ", ".join(f"{self.column(c)} = excluded.{self.column(c)}" for c in updates)
        return f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"

    def upsert_affected(self, reported: int, rows: int) -> int:
        """Rows inserted or updated, from what the engine reported for an upsert."""
        return reported

    # --- values -------------------------------------------------------------------------------

    def bind(self, column: ColumnInfo, value: Any) -> Any:
        """`value` (as `services.values.from_proto` made it) as this engine binds it for
        `column`; a value that cannot be one of the column's is INVALID_ARGUMENT."""
        if value is None:
            return None
        if isinstance(value, Decimal) and value.is_finite():
            bounded_decimal(column, value)  # before anything writes it out (services.values)
        try:
            return self._bind(column, value)
        except (ValueError, TypeError, InvalidOperation, ArithmeticError):
            shown = str(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise InvalidArgument(
                f"column {column.name!r} ({column.db_type}): {shown!r} is not a valid value"
            ) from None

    def binder(self, column: ColumnInfo) -> Callable[[Any], Any]:
        """`bind` for many values of `column` (a batch's rows): values already of the column's
        Python type (ints, floats, strings, aware UTC datetimes, decimals) take a direct path that
        gives what `bind` gives; every other value goes through `bind`."""
        bind, logical = self.bind, column.logical
        if logical == Logical.INT:
            return lambda v: v if type(v) is int else bind(column, v)
        if logical == Logical.FLOAT:
            return lambda v: v if type(v) is float and math.isfinite(v) else bind(column, v)
        if logical == Logical.STRING:
            text = self.bind_string
            return lambda v: text(v) if type(v) is str else bind(column, v)
        if logical == Logical.DATETIME:
            moment = self.bind_datetime
            return lambda v: moment(column, v) if type(v) is datetime and v.tzinfo is UTC else bind(column, v)
        if logical == Logical.DECIMAL:
            number = self.bind_decimal

            def decimal(v: Any) -> Any:
                if type(v) is Decimal and v.is_finite():
                    return number(bounded_decimal(column, v))
                return bind(column, v)

            return decimal
        return lambda v: bind(column, v)

    def _bind(self, column: ColumnInfo, value: Any) -> Any:
        logical = column.logical
        if logical == Logical.UUID:
            return self.bind_uuid(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        if logical == Logical.INT:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if isinstance(value, Decimal) and value != value.to_integral_value():
                raise ValueError(value)
            return int(value)
        if logical == Logical.FLOAT:
            return float(value)
        if logical == Logical.DECIMAL:
            if isinstance(value, Decimal):
                number = value
            else:
                number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
            if not number.is_finite():
                raise ValueError(value)
            return self.bind_decimal(bounded_decimal(column, number))
        if logical == Logical.BOOLEAN:
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                value = value.lower() == "true"
            return self.bind_boolean(bool(value))
        if logical == Logical.DATETIME:
            if isinstance(value, str):
                value = parse_datetime(value)
            elif not isinstance(value, datetime) and isinstance(value, date):
                value = datetime(value.year, value.month, value.day, tzinfo=UTC)
            if not isinstance(value, datetime):
                raise TypeError(value)
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return self.bind_datetime(column, value.astimezone(UTC))
        if logical == Logical.DATE:
            if isinstance(value, datetime):
                value = value.date()
            elif isinstance(value, str):
                value = date.fromisoformat(value)
            if not isinstance(value, date):
                raise TypeError(value)
            return self.bind_date(value)
        if logical == Logical.JSON:
            return self.bind_json(value if isinstance(value, str) else Json(str(value)))
        return self.bind_string(value)

    def bind_uuid(self, value: uuid.UUID) -> Any:
        return str(value)

    def bind_decimal(self, value: Decimal) -> Any:
        return value

    def bind_boolean(self, value: bool) -> Any:
        return value

    def bind_datetime(self, column: ColumnInfo, value: datetime) -> Any:
        return value

    def bind_date(self, value: date) -> Any:
        return value

    def bind_json(self, value: str) -> Any:
        return str(value)

    def bind_string(self, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return format(value, "f")
        return str(value)

    def year_bounds(self, column: ColumnInfo, year: int) -> tuple[Any, Any]:
        """[1 January `year`, 1 January `year + 1`) as values of `column`'s type, so that the
        `year` operator compiles to a range an index on the column can serve."""
        if not 1 <= year <= 9998:
            raise InvalidArgument(f"year {year} is out of range (1..9998)")
        if column.logical in (Logical.DATE, Logical.DATETIME):
            return date(year, 1, 1), date(year + 1, 1, 1)
        if column.logical == Logical.STRING:  # ISO 8601 text compares in date order
            return f"{year:04d}-01-01", f"{year + 1:04d}-01-01"
        raise InvalidArgument(f"operator year needs a date or timestamp column; {column.name!r} is {column.db_type}")
