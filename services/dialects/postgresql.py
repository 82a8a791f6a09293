"""PostgreSQL's dialect, for asyncpg (docs/reference.md §8).

Placeholders are `$1..$n` and a statement carries at most 32,767 of them (asyncpg's limit). Key
lists are bound as ONE array whatever their length: `col = ANY($1)` for a single column (the
server infers the array's type from the column) and `(a, b) IN (SELECT * FROM unnest($1::t1[],
$2::t2[]))` for composite keys, so a batch of 100,000 keys is one statement with a stable text.

What the dialect knows of the database comes from the catalog (`ColumnInfo`, filled by the
engine's introspection), never from state of its own. Text columns carry `exact_collation = "C"`:
ordering and range comparisons are then code-point order whatever the database's locale. Equality
is already exact in PostgreSQL, except under a nondeterministic collation, which introspection
marks `case_insensitive`. `_ilike` lowers both sides under the column's `fold_collation`, the ICU
root collation when the server has it (Unicode full case mapping, as Python's `str.lower` that the
SQLite engine uses), else with the database's own `LOWER`. Composite key arrays are cast to each
column's `base_type`; `zoned` columns (timestamptz) bind aware datetimes.

Values are bound as asyncpg encodes them: uuid.UUID, Decimal, aware datetimes for `timestamptz`,
naive UTC datetimes for `timestamp`, date, JSON as text, bool, int, float, str.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from dbmesh.services.catalog import ColumnInfo
from dbmesh.services.dialects.base import Dialect, Params

__all__ = ["ICU_ROOT", "PostgresDialect"]

# The ICU root-locale collation PostgreSQL creates when it is built with ICU.
ICU_ROOT = "und-x-icu"


class PostgresDialect(Dialect):
    name = "postgresql"
    max_params = 32767

    def placeholder(self, index: int) -> str:
        return f"${index}"

    def _text(self, column: ColumnInfo, sql: str) -> str:
        """`sql` as text: non-text columns (uuid, integers, dates) are cast so that LIKE works on
        them as on the other engines, which store or compare them as text."""
        return sql if column.exact_collation else f"CAST({sql} AS text)"

    # --- key lists as arrays ------------------------------------------------------------------

    def in_values(self, column: ColumnInfo, sql: str, values: list[Any], params: Params) -> str:
        """`sql = ANY($n)` with the whole list bound as one array; an empty list is false."""
        if not values:
            return "1 = 0"
        array = params.add([self.bind(column, v) for v in values])
        if column.case_insensitive:
            return f"({sql} = ANY({array}) AND {self.exact(sql, column)} = ANY({array}))"
        return f"({sql} = ANY({array}))"

    def max_in_values(self, columns: list[ColumnInfo], other_params: int) -> int | None:
        if len(columns) == 1 or self._array_casts(columns) is not None:
            return None
        return super().max_in_values(columns, other_params)

    def _array_casts(self, columns: list[ColumnInfo]) -> list[str] | None:
        """`type[]` for each column, or None when a column's base type was not introspected."""
        if not all(column.base_type for column in columns):
            return None
        return [f"{column.base_type}[]" for column in columns]

    def in_keys(self, columns: list[ColumnInfo], sqls: list[str], keys: list[tuple[Any, ...]], params: Params) -> str:
        """Composite keys as one array per column, zipped back into rows by `unnest`."""
        casts = self._array_casts(columns) if len(columns) > 1 else None
        if casts is None:
            return super().in_keys(columns, sqls, keys, params)
        if not keys:
            return "1 = 0"
        arrays = ", ".join(f"{params.add([key[i] for key in keys])}::{cast}" for i, cast in enumerate(casts))
        targets = ", ".join(self.exact(s, c) if c.case_insensitive else s for s, c in zip(sqls, columns, strict=True))
        return f"(({targets}) IN (SELECT * FROM unnest({arrays})))"

    # --- pattern matching ---------------------------------------------------------------------

    def like(self, column: ColumnInfo, sql: str, placeholder: str) -> str:
        if column.exact_collation is None:
            return f"{self._text(column, sql)} LIKE {placeholder}{self.like_escape}"
        return super().like(column, sql, placeholder)

    def ilike(self, column: ColumnInfo, sql: str, placeholder: str) -> str:
        text = self._text(column, sql)
        if column.fold_collation is None:
            return f"LOWER({text}) LIKE LOWER({placeholder}::text){self.like_escape}"
        collate = f" COLLATE {self.quote(column.fold_collation)}"
        return f"LOWER({text}{collate}) LIKE LOWER({placeholder}::text{collate}){self.like_escape}"

    # --- values -------------------------------------------------------------------------------

    def bind_uuid(self, value: uuid.UUID) -> Any:
        return value  # decimals, booleans, dates and JSON text bind as the base class leaves them

    def bind_datetime(self, column: ColumnInfo, value: datetime) -> Any:
        """Aware for `timestamptz`; naive UTC for `timestamp without time zone` (asyncpg reads a
        naive value for `timestamptz` in the process's local zone, and refuses an aware one for
        `timestamp`)."""
        if column.zoned:
            return value
        return value.replace(tzinfo=None)
