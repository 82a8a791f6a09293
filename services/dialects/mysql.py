"""MySQL's dialect, as spoken by MariaDB 10.11 through asyncmy (docs/reference.md §8).

Text. asyncmy (as PyMySQL) binds parameters on the client: it escapes each value and substitutes it
into the statement with Python's `%` formatting. Placeholders are therefore named, `%(p1)s`, which
also lets one value appear twice (the guarded equality below uses its placeholder twice), and every
literal `%` in SQL text is written `%%` (the engine always formats, even without parameters).
Identifiers are quoted with backticks; the engine pins `sql_mode`, so no ANSI_QUOTES and no
NO_BACKSLASH_ESCAPES (`ESCAPE '\\\\'` below relies on backslash escapes).

Exact strings. MariaDB's default collation, utf8mb4_general_ci, ignores case and accents, and every
PAD SPACE collation (utf8mb4_bin included) ignores trailing spaces, while PostgreSQL and SQLite
compare code points. So a string column whose collation is not already a NO PAD binary one gets
`exact_collation` (`<charset>_nopad_bin`) and `case_insensitive`: equality and IN keep the plain
comparison, which an index can serve, and add the exact one, which decides; LIKE and ORDER BY use
the exact one. A column whose charset is not utf8mb4 is converted to utf8mb4 first, so that any
value can be compared with it and the order is code-point order.

NULLs sort first in MySQL whatever the direction; `order_term` adds `col IS NULL` to sort them
last ascending and first descending (docs/reference.md §4). OFFSET needs a LIMIT. UPDATE cannot end in RETURNING
on MariaDB (INSERT and DELETE can), so writes lock and name the rows by primary key instead.
ON DUPLICATE KEY UPDATE cannot name the conflict columns (any unique key fires it), so upserts
use it only where no other key can fire it; otherwise `services.writes` locks, inserts and
updates by the named key (`named_conflict`).

Types: `mysql_logical` reads information_schema's types as the contract's logical types; booleans
(tinyint(1)) bind as 1/0, timestamps as naive UTC (the session's time zone is +00:00).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from dbmesh.services.catalog import ColumnInfo, Logical
from dbmesh.services.dialects.base import Dialect
from dbmesh.services.errors import InvalidArgument

__all__ = ["EXACT_CHARSET", "MysqlDialect", "exact_collation", "json_checked_column", "mysql_logical"]

# The charset every exact comparison happens in, and its NO PAD binary (code-point) collation.
EXACT_CHARSET = "utf8mb4"
_EXACT_COLLATION = "utf8mb4_nopad_bin"
# LIMIT's largest value: MySQL has no OFFSET without LIMIT.
_NO_LIMIT = "18446744073709551615"

_INTS = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"})
_TEXTS = frozenset({"longtext", "mediumtext", "text", "tinytext", "varchar", "char"})
_JSON_CHECK = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)")


def mysql_logical(data_type: str, column_type: str, json_checked: bool = False) -> Logical:
    """The logical type of a column from information_schema's DATA_TYPE and COLUMN_TYPE.
    `json_checked`: MariaDB's JSON is a longtext with a `json_valid(col)` CHECK constraint."""
    kind, full = data_type.lower(), column_type.lower()
    if kind in ("bool", "boolean") or full.startswith("tinyint(1)") or full == "bit(1)":
        return Logical.BOOLEAN
    if kind in _INTS:
        return Logical.INT
    if kind in ("decimal", "numeric"):
        return Logical.DECIMAL
    if kind in ("float", "double", "real", "double precision"):
        return Logical.FLOAT
    if kind in ("datetime", "timestamp"):
        return Logical.DATETIME
    if kind == "date":
        return Logical.DATE
    if kind == "json" or (json_checked and kind in _TEXTS):
        return Logical.JSON
    if kind == "uuid":
        return Logical.UUID
    return Logical.STRING


def json_checked_column(check_clause: str) -> str:
    """The column a CHECK clause `json_valid(`col`)` makes JSON (MariaDB's JSON type is a longtext
    with that constraint), else ""."""
    match = _JSON_CHECK.fullmatch(check_clause.strip())
    return match.group(1).replace("``", "`") if match else ""


def exact_collation(charset: str | None, collation: str | None) -> str | None:
    """The collation that makes a string column of `charset`/`collation` compare exactly, or None
    when it already does (or is not a character column)."""
    if not charset or not collation or collation == _EXACT_COLLATION:
        return None
    return f"{charset}_nopad_bin"


class MysqlDialect(Dialect):
    name = "mysql"
    # Client-side binding has no protocol limit; this keeps one statement well under the server's
    # default max_allowed_packet (16 MiB) for ordinary keys.
    max_params = 65535
    like_escape = " ESCAPE '\\\\'"
    update_returning = False
    named_conflict = False  # ON DUPLICATE KEY fires on any unique key: services.writes emulates

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``").replace("%", "%%") + "`"

    def placeholder(self, index: int) -> str:
        return f"%(p{index})s"

    def placeholders(self, start: int, count: int) -> list[str]:
        return [f"%(p{i})s" for i in range(start, start + count)]

    def exact(self, sql: str, column: ColumnInfo) -> str:
        """`sql` in code-point order; columns of other charsets are converted to utf8mb4 first, so
        that a value outside their charset does not make an "illegal mix of collations"."""
        collation = column.exact_collation
        if not collation:
            return sql
        if not collation.startswith(EXACT_CHARSET + "_"):
            sql = f"CONVERT({sql} USING {EXACT_CHARSET})"
        return f"{sql} COLLATE {_EXACT_COLLATION}"

    def ilike(self, column: ColumnInfo, sql: str, placeholder: str) -> str:
        """Case-insensitive but accent-sensitive, as on PostgreSQL: both sides lowered, compared
        in the column's exact collation (a plain general_ci LIKE would also equate 'é' and 'e')."""
        return f"LOWER({self.exact(sql, column)}) LIKE LOWER({placeholder}){self.like_escape}"

    def order_term(self, column: ColumnInfo, sql: str, descending: bool) -> str:
        """ASC puts NULLs last, DESC first (docs/reference.md §4): MySQL sorts NULL lowest, so a leading
        `sql IS NULL` term (0 or 1) in the same direction moves them."""
        direction = "DESC" if descending else "ASC"
        term = f"{self.exact(sql, column)} {direction}"
        return f"{sql} IS NULL {direction}, {term}" if column.nullable else term

    def limit_offset(self, limit: str | None, offset: str | None) -> str:
        if limit is None and offset is not None:
            return f"LIMIT {_NO_LIMIT} OFFSET {offset}"
        return super().limit_offset(limit, offset)

    def upsert_clause(self, conflict: list[ColumnInfo], updates: list[ColumnInfo]) -> str:
        """`ON DUPLICATE KEY UPDATE`: MySQL cannot name the conflict target, so a conflict on any
        unique key of the table updates the row. With nothing to update, the key is assigned to
        itself (a no-op that keeps the existing row). MariaDB accepts RETURNING after it and
        returns each row as it is after the statement."""
        if not updates:
            key = self.column(conflict[0])
            return f"ON DUPLICATE KEY UPDATE {key} = {key}"
        sets = ", ".join(f"{self.column(c)} = VALUES({self.column(c)})" for c in updates)
        return f"ON DUPLICATE KEY UPDATE {sets}"

    def upsert_affected(self, reported: int, rows: int) -> int:
        """MySQL counts 1 per inserted row and 2 per updated one (1 for a row left unchanged, as the
        engine connects with CLIENT_FOUND_ROWS); each row of the statement was one or the other."""
        return rows

    def bind(self, column: ColumnInfo, value: Any) -> Any:
        bound = super().bind(column, value)
        if isinstance(bound, float) and not math.isfinite(bound):
            raise InvalidArgument(f"column {column.name!r} ({column.db_type}): {bound!r} cannot be stored in MySQL")
        return bound

    def bind_boolean(self, value: bool) -> Any:
        return int(value)

    def bind_datetime(self, column: ColumnInfo, value: datetime) -> Any:
        """Naive UTC: the engine sets the session time zone to +00:00, for TIMESTAMP columns."""
        return value.replace(tzinfo=None)
