"""`Checksum` computed by the database itself (PostgreSQL, MariaDB/MySQL), so that the rows do not
even reach the resolver: the row text of dbmesh/canonical.py (`row_text`) written in SQL; a
segment's checksum the MD5 of its rows' texts concatenated in key order (`segment_sql`, one MD5
per segment), a row's digest (for the row-by-row merge) the first 16 hex digits of the MD5 of its
text as an integer (`hash_sql`).

Only where the engine can write a column's comparison form exactly (docs/reference.md §13):

| logical | PostgreSQL | MariaDB / MySQL |
|---|---|---|
| int | `c::text` | `CAST(c AS CHAR)` |
| decimal | `trim_scale(c)::text` | trailing zeros trimmed from `CAST(c AS CHAR)`, `'0'` for zero |
| string | `text`, `varchar` | `varchar`, `text` in utf8mb4 (the MD5 is of UTF-8 bytes) |
| datetime | `timestamp`, `timestamptz` at UTC: `YYYY-MM-DDTHH:MI:SS[.F]Z` | `datetime`, `timestamp` (UTC session) |
| date | `YYYY-MM-DD` | `CAST(c AS CHAR)` |
| boolean | `true` / `false` | `tinyint(1)`, `bool`: `true` / `false` |
| uuid | `uuid::text` | — |

`.F`: the fraction without its trailing zeros, none for a whole second. Floats (the shortest repr
is Python's), JSON, UUIDs kept as text, char(n), other charsets, a column read as another logical
type, and SQLite: the resolver computes the row text itself (services/checksums.py), with the same
result.
"""

from __future__ import annotations

from dbmesh.services.catalog import ColumnInfo, Logical

__all__ = ["hash_sql", "segment_sql", "text_sql"]


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
        # The ISO text (DateStyle = ISO in the resolver's session) drops the fraction's trailing
        # zeros, as the comparison form does (dbmesh/canonical.py `_moment`); `T` for the space.
        return f"replace({t}::text, ' ', 'T') || 'Z'"
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
        if "(" not in column.db_type or "(0)" in column.db_type:  # no fraction: `YYYY-MM-DD HH:MM:SS`
            return f"CONCAT(REPLACE(CAST({c} AS CHAR), ' ', 'T'), 'Z')"
        # The fraction's digits, without their trailing zeros (and a bare point).
        trimmed = f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({c} AS CHAR)))"
        return f"CONCAT(REPLACE({trimmed}, ' ', 'T'), 'Z')"
    if logical == Logical.DATE and kind == "date":
        return f"CAST({c} AS CHAR)"
    if logical == Logical.BOOLEAN and (kind in ("bool", "boolean") or column.db_type.lower().startswith("tinyint(1)")):
        return f"(CASE WHEN {c} <> 0 THEN 'true' WHEN {c} = 0 THEN 'false' END)"
    return None


def text_sql(engine: str, columns: list[tuple[ColumnInfo, Logical, str]]) -> str | None:
    """The SQL of each row's text (dbmesh/canonical.py `row_text`), or None when some column has
    no exact SQL form here."""
    if engine == "postgresql":
        parts = []
        for column, logical, sql in columns:
            text = _pg_text(column, logical, sql)
            if text is None:
                return None
            value = f"'V' || {text} || '|'"
            parts.append(f"coalesce({value}, 'N')" if column.nullable else f"({value})")
        return " || ".join(parts)
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
        return f"CONCAT({', '.join(parts)})"
    return None


def hash_sql(engine: str, text: str) -> str:
    """The SQL of a row's digest from its text (`text_sql`): a signed or unsigned 64-bit integer
    whose value mod 2^64 is dbmesh/canonical.py `row_digest`."""
    if engine == "postgresql":
        return f"('x' || substr(md5({text}), 1, 16))::bit(64)::bigint"
    return f"CAST(CONV(SUBSTRING(MD5({text}), 1, 16), 16, 10) AS UNSIGNED)"


def segment_sql(engine: str, text: str, table: str, where: str, order: str, clustered: bool) -> str:
    """One segment's `(row count, checksum, possibly truncated)`: the MD5 of its rows' texts
    concatenated in key order (dbmesh/canonical.py `segment_checksum`), one call per segment
    instead of one MD5 per row (about half the database CPU of summing per-row digests:
    bench/results/reconcile-latest.md).

    PostgreSQL aggregates an ordered subquery (`string_agg` without its own ORDER BY: ~25 % less
    CPU than the aggregate sorting its input). MySQL/MariaDB concatenate with `GROUP_CONCAT`; with
    `clustered` (the key is the table's primary key and sorts as the comparison does) the range is
    read through the PRIMARY index in its order, with no ORDER BY (~35 % less CPU than an ordered
    GROUP_CONCAT). Neither engine promises that an aggregate sees its input in that order; when it
    does not, the segment's checksum differs from the other side's and the drill-down then compares
    its rows by their order-independent per-row digests: a slower run, never a wrong answer.

    GROUP_CONCAT stops at `group_concat_max_len` (the resolver's session sets it high:
    services/engines/mysql.py `GROUP_CONCAT_MAX_LEN`) and `max_allowed_packet` bytes with only a
    warning, so the statement also says whether the text may have been cut (its length within a
    character of the limit); the caller then computes that segment another way, never from a cut
    text. PostgreSQL's text has no such limit below 1 GB, past which the statement fails."""
    if engine == "postgresql":
        return (
            "SELECT count(*), md5(coalesce(string_agg(t, ''), '')), false"
            f" FROM (SELECT {text} AS t FROM {table} WHERE {where} ORDER BY {order}) AS s"
        )
    source = f"{table} FORCE INDEX (PRIMARY)" if clustered else table
    concat = (
        f"GROUP_CONCAT({text} SEPARATOR '')" if clustered else f"GROUP_CONCAT({text} ORDER BY {order} SEPARATOR '')"
    )
    limit = "LEAST(@@session.group_concat_max_len, @@session.max_allowed_packet) - 4"
    return (
        f"SELECT n, MD5(IFNULL(g, '')), IFNULL(LENGTH(g), 0) > {limit}"
        f" FROM (SELECT COUNT(*) AS n, {concat} AS g FROM {source} WHERE {where}) AS s"
    )
