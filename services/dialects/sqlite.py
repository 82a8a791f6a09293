"""SQLite's dialect (docs/reference.md §8).

Conventions for what SQLite has no type for: booleans are stored as 0/1, UUIDs as lower-case text,
timestamps as UTC text `YYYY-MM-DD HH:MM:SS[.ffffff]` (SQLite's own `datetime()` form), dates as
`YYYY-MM-DD`, decimals under NUMERIC affinity (read back at the declared scale), JSON as text.
Text columns compare and sort under `COLLATE "BINARY"` (code points) whatever collation they were
declared with. LIKE is made case-sensitive per connection (`PRAGMA case_sensitive_like`) and `_ilike` lowers both
sides with Python's Unicode-aware `str.lower`, registered as `dbmesh_lower`.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dbmesh.services.catalog import ColumnInfo
from dbmesh.services.dialects.base import Dialect, Params

__all__ = ["SqliteDialect"]


def _variable_limit() -> int:
    conn = sqlite3.connect(":memory:")
    try:
        return int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    finally:
        conn.close()


class SqliteDialect(Dialect):
    name = "sqlite"
    max_params = _variable_limit()  # the SQLite library's, not a database's

    def compare(self, column: ColumnInfo, sql: str, op: str, placeholder: str) -> str:
        return f"{self.exact(sql, column)} {op} {placeholder}"

    def in_values(self, column: ColumnInfo, sql: str, values: list[Any], params: Params) -> str:
        return super().in_values(column, self.exact(sql, column), values, params)

    def ilike(self, column: ColumnInfo, sql: str, placeholder: str) -> str:
        return f"dbmesh_lower({sql}) LIKE dbmesh_lower({placeholder}){self.like_escape}"

    def limit_offset(self, limit: str | None, offset: str | None) -> str:
        if limit is None and offset is not None:
            return f"LIMIT -1 OFFSET {offset}"
        return super().limit_offset(limit, offset)

    def bind_uuid(self, value: uuid.UUID) -> Any:
        return str(value)

    def bind_decimal(self, value: Decimal) -> Any:
        return format(value, "f")  # NUMERIC affinity turns the text into the stored number

    def bind_boolean(self, value: bool) -> Any:
        return int(value)

    def bind_datetime(self, column: ColumnInfo, value: datetime) -> Any:
        return value.replace(tzinfo=None).isoformat(sep=" ")

    def bind_date(self, value: date) -> Any:
        return value.isoformat()
