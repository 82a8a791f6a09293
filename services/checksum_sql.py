"""`Checksum` computed by the database itself (PostgreSQL, MariaDB/MySQL), so that the rows do not
even reach the resolver: the row text of dbmesh/canonical.py (`row_text`) written in SQL, its MD5,
the first 16 hex digits as an integer, summed per segment (as reladiff does).

Only where the engine can write a column's comparison form exactly (docs/reference.md §13):

| logical | PostgreSQL | MariaDB / MySQL |
|---|---|---|
| int | `c::text` | `CAST(c AS CHAR)` |
| decimal | `trim_scale(c)::text` | trailing zeros trimmed from `CAST(c AS CHAR)`, `'0'` for zero |
| string | `text`, `varchar` | `varchar`, `text` in utf8mb4 (the MD5 is of UTF-8 bytes) |
| datetime | `timestamp`, `timestamptz` at UTC: `YYYY-MM-DDTHH:MI:SS[.US]Z` | `datetime`, `timestamp` (UTC session) |
| date | `YYYY-MM-DD` | `CAST(c AS CHAR)` |
| boolean | `true` / `false` | `tinyint(1)`, `bool`: `true` / `false` |
| uuid | `uuid::text` | — |

Floats (the shortest repr is Python's), JSON, UUIDs kept as text, char(n), other charsets, a
column read as another logical type, and SQLite: the resolver computes the row text itself
(services/checksums.py), with the same result.
"""

from __future__ import annotations

from dbmesh.services.catalog import ColumnInfo, Logical

__all__ = ["hash_sql", "sum_sql"]


def _pg_text(column: ColumnInfo, logical: Logical, c: str) -> str | None:
    base = column.base_type  # format_type of the base type: "integer", "character varying", ...
    if logical == Logical.INT and base in ("smallint", "integer", "bigint"):
        return f"{c}::text"
    if logical == Logical.DECIMAL and base == "numeric":
        return f"trim_scale({c})::text"
    if logical == Logical.STRING and base in ("text", "character varying"):
        return rf"replace(replace({c}::text, '\', '\\'), '|', '\|')"
    if logical == Logical.DATETIME and base in ("timestamp without time zone", "timestamp with time zone"):
        t = f"({c} AT TIME ZONE 'UTC')" if column.zoned else c
        # A whole second: the ISO text (DateStyle = ISO in the resolver's session), `T` for the
        # space, ~9 % less CPU per row than to_char; else to_char with the six digits of the
        # microseconds, as Python's isoformat writes them.
        fraction = f'to_char({t}, \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
        whole = f"replace({t}::text, ' ', 'T') || 'Z'"
        return f"(CASE WHEN {t} = date_trunc('second', {t}) THEN {whole} ELSE {fraction} END)"
    if logical == Logical.DATE and base == "date":
        return f"to_char({c}, 'YYYY-MM-DD')"
    if logical == Logical.BOOLEAN and base == "boolean":
        return f"(CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END)"
    if logical == Logical.UUID and base == "uuid":
        return f"{c}::text"
    return None


def _mysql_utf8(column: ColumnInfo) -> bool:
    return column.exact_collation is None or column.exact_collation.startswith("utf8mb4_")


def _mysql_text(column: ColumnInfo, logical: Logical, c: str) -> str | None:
    kind = column.db_type.lower().split("(")[0].split(" ")[0]
    if logical == Logical.INT and kind in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint"):
        return f"CAST({c} AS CHAR)"
    if logical == Logical.DECIMAL and kind in ("decimal", "numeric"):
        if not column.scale:
            return f"CAST({c} AS CHAR)"
        trimmed = f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({c} AS CHAR)))"
        return f"(CASE WHEN {c} = 0 THEN '0' ELSE {trimmed} END)"
    if logical == Logical.STRING and kind in ("varchar", "text", "mediumtext", "longtext", "tinytext"):
        # Backslash escapes are on in the resolver's sql_mode: '\\' is one backslash.
        return rf"REPLACE(REPLACE({c}, '\\', '\\\\'), '|', '\\|')" if _mysql_utf8(column) else None
    # No DATE_FORMAT: a `%` in the statement would be taken for a placeholder by the driver.
    if logical == Logical.DATETIME and kind in ("datetime", "timestamp"):
        if "(" not in column.db_type:  # no fractional seconds: `YYYY-MM-DD HH:MM:SS` as it is
            return f"CONCAT(REPLACE(CAST({c} AS CHAR), ' ', 'T'), 'Z')"
        six = f"REPLACE(CAST(CAST({c} AS DATETIME(6)) AS CHAR), ' ', 'T')"
        return f"REPLACE(CONCAT({six}, 'Z'), '.000000Z', 'Z')"
    if logical == Logical.DATE and kind == "date":
        return f"CAST({c} AS CHAR)"
    if logical == Logical.BOOLEAN and (kind in ("bool", "boolean") or column.db_type.lower().startswith("tinyint(1)")):
        return f"(CASE WHEN {c} <> 0 THEN 'true' WHEN {c} = 0 THEN 'false' END)"
    return None


def hash_sql(engine: str, columns: list[tuple[ColumnInfo, Logical, str]]) -> str | None:
    """The SQL of each row's hash (a signed or unsigned 64-bit integer whose value mod 2^64 is the
    digest of dbmesh/canonical.py), or None when some column has no exact SQL form here."""
    if engine == "postgresql":
        parts = []
        for column, logical, sql in columns:
            text = _pg_text(column, logical, sql)
            if text is None:
                return None
            value = f"'V' || {text} || '|'"
            parts.append(f"coalesce({value}, 'N')" if column.nullable else f"({value})")
        return f"('x' || substr(md5({' || '.join(parts)}), 1, 16))::bit(64)::bigint"
    if engine == "mysql":
        # One flat CONCAT (a NOT NULL value's `V` and `|` are literals next to its neighbours'):
        # ~10 % less CPU per row than a CONCAT per value (bench/results/reconcile-latest.md).
        parts = []
        literal = ""
        for column, logical, sql in columns:
            text = _mysql_text(column, logical, sql)
            if text is None:
                return None
            if column.nullable:
                parts += [f"'{literal}'"] if literal else []
                parts.append(f"IFNULL(CONCAT('V', {text}, '|'), 'N')")
                literal = ""
            else:
                parts += [f"'{literal}V'", text]
                literal = "|"
        parts += [f"'{literal}'"] if literal else []
        return f"CAST(CONV(SUBSTRING(MD5(CONCAT({', '.join(parts)})), 1, 16), 16, 10) AS UNSIGNED)"
    return None


def sum_sql(engine: str, hash_expr: str) -> str:
    """The per-segment sum of `hash_expr`, exact, never a wrapping bigint: PostgreSQL's `sum` of a
    bigint is a numeric (accumulated in 128 bits: ~5 % less CPU than casting each row to numeric),
    MySQL's `SUM` of an unsigned BIGINT a DECIMAL."""
    return f"sum({hash_expr})" if engine == "postgresql" else f"SUM({hash_expr})"
