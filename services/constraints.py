"""What a client is told when a write breaks a constraint (docs/reference.md §10): the database,
the kind of constraint and its name (or the column, for NOT NULL), never a value. The servers'
own texts quote key values ("Key (email)=(a@x) already exists", "Duplicate entry 'a@x'"), which
may be another row's data, so each engine's `map_error` builds its message here instead.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["mysql_constraint", "postgres_constraint", "violation"]

_MYSQL_NAMES = (
    re.compile(r"for key '(?:[^'.]*\.)?([^']*)'"),  # 1062 Duplicate entry ... for key 'name'
    re.compile(r"CONSTRAINT `([^`]*)`"),  # foreign keys, CHECK (4025)
    re.compile(r"[Cc]heck constraint '([^']*)'"),  # 3819
)
_MYSQL_COLUMN = re.compile(r"(?:Column|Field) '([^']*)'")  # 1048, 1364
_PG_KINDS = {"23505": "unique", "23502": "not-null", "23503": "foreign key", "23514": "check", "23P01": "exclusion"}
_MYSQL_KINDS = {1062: "unique", 1022: "unique", 1586: "unique", 1169: "unique", 3819: "check", 4025: "check"}


def violation(database: str, kind: str, name: str | None, table: str | None = None, column: str | None = None) -> str:
    """`database 'd': unique constraint 'customers_email_key' on table 'customers' violated`, or
    for NOT NULL `database 'd': column 'email' of table 'customers' cannot be null`."""
    where = f" on table {table!r}" if table else ""
    if kind == "not-null":
        of = f" of table {table!r}" if table else ""
        return f"database {database!r}: column {column or '?'!r}{of} cannot be null"
    return f"database {database!r}: {kind} constraint {name or '(unnamed)'!r}{where} violated"


def mysql_constraint(database: str, code: int, server_message: str) -> str:
    """The message of MySQL constraint error `code` (server text `server_message`)."""
    if code in (1048, 1364, 1263):
        column = _MYSQL_COLUMN.search(server_message)
        return violation(database, "not-null", None, column=column.group(1) if column else None)
    kind = _MYSQL_KINDS.get(code, "foreign key")
    for pattern in _MYSQL_NAMES:
        if found := pattern.search(server_message):
            return violation(database, kind, found.group(1))
    return violation(database, kind, None)


def postgres_constraint(database: str, exc: Any) -> str:
    """The message of an asyncpg integrity error, named by its fields (never its DETAIL, which
    quotes key values)."""
    kind = _PG_KINDS.get(getattr(exc, "sqlstate", ""), "integrity")
    return violation(database, kind, exc.constraint_name, exc.table_name, exc.column_name)
