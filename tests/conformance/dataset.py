"""The conformance dataset: the same rows in every engine, stored the way each engine stores them.

Tables are described once with portable column kinds; `DDL_TYPES` says how each engine spells a
kind (a UUID is `uuid` on PostgreSQL, `CHAR(36)` on MySQL, `TEXT` on SQLite). Text columns have
collations that do NOT compare or sort by code point, on purpose, as real databases often do:
MariaDB's default utf8mb4_general_ci (case- and accent-insensitive, PAD SPACE) and ICU's root
collation on PostgreSQL ('a' < 'B'); the `labels` table adds utf8mb4_unicode_ci and SQLite's NOCASE.
The resolvers must still give code-point results (docs/reference.md §8). Rows are Python values,
converted per engine for its plain driver (SQLite conventions from `services/dialects/sqlite.py`:
booleans 0/1, timestamps as UTC text `YYYY-MM-DD HH:MM:SS[.ffffff]`). Expected results in
`cases/*/expected.json` and in the Python tests are written against these rows.

People (primary key order: ABC, émile, Bob, Zoë, abc, ÉMILE, 日本; name code-point order: ABC,
Bob, Zoë, abc, ÉMILE, émile, 日本):

    key    id    name   nickname active balance joined_at (UTC)          birthday   score  age
    ABC    0d1e  ABC    NULL     true   NULL    2019-01-01 00:00:00      1999-12-31 100.125 51
    emile  1a2b  émile  NULL     false  0.10    2020-12-31 23:59:59      1985-01-01 -0.25  39
    bob    4b0b  Bob    bobby    NULL   0.10    2021-03-04 05:06:07      NULL       -7.5   NULL
    zoe    6f1c  Zoë    zo       true   12.50   2021-03-04 05:06:07      1990-05-17 1.5    34
    abc    9e8d  abc    abc      true   12.50   NULL                     2000-02-29 0.0    25
    EMILE  c3d4  ÉMILE  Em       NULL   -3.00   2022-06-15 10:00:00.25   NULL       NULL   NULL
    nihon  f0e1  日本   ''       false  1234.56 2023-07-08 09:10:11      2001-01-01 2.75   18
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson

from conformance.backends import Backend

__all__ = ["COUNTS", "LABELS", "ORDERS", "PEOPLE", "PERSON", "SNIPPETS", "TABLES", "load_dataset"]

DDL_TYPES: dict[str, dict[str, str]] = {
    "uuid": {"postgresql": "uuid", "mysql": "CHAR(36)", "sqlite": "TEXT"},
    "text": {"postgresql": "text", "mysql": "VARCHAR(200)", "sqlite": "TEXT"},
    "int": {"postgresql": "integer", "mysql": "INT", "sqlite": "INTEGER"},
    "bool": {"postgresql": "boolean", "mysql": "BOOLEAN", "sqlite": "BOOLEAN"},
    "decimal": {"postgresql": "numeric(10,2)", "mysql": "DECIMAL(10,2)", "sqlite": "DECIMAL(10,2)"},
    "timestamp": {"postgresql": "timestamptz", "mysql": "DATETIME(6)", "sqlite": "TIMESTAMP"},
    "date": {"postgresql": "date", "mysql": "DATE", "sqlite": "DATE"},
    "json": {"postgresql": "jsonb", "mysql": "JSON", "sqlite": "JSON"},
    "float": {"postgresql": "double precision", "mysql": "DOUBLE", "sqlite": "REAL"},
}


# The collation clause of every text column, per engine (none: the database's default).
TEXT_COLLATIONS = {"postgresql": 'COLLATE "und-x-icu"'}


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str, bool], ...]  # (name, kind, nullable)
    primary_key: tuple[str, ...]
    unique: tuple[str, ...] = ()
    references: tuple[tuple[str, str], ...] = ()  # (column, "table(column)")
    collations: Mapping[str, str] = field(default_factory=lambda: TEXT_COLLATIONS)

    def ddl(self, engine: str) -> str:
        collation = f" {self.collations[engine]}" if engine in self.collations else ""
        parts = [
            f"{name} {DDL_TYPES[kind][engine]}{collation if kind == 'text' else ''}{'' if nullable else ' NOT NULL'}"
            for name, kind, nullable in self.columns
        ]
        parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        parts += [f"UNIQUE ({column})" for column in self.unique]
        parts += [f"FOREIGN KEY ({column}) REFERENCES {target}" for column, target in self.references]
        suffix = " ENGINE=InnoDB" if engine == "mysql" else ""
        return f"CREATE TABLE {self.name} ({', '.join(parts)}){suffix}"


PEOPLE_TABLE = Table(
    "people",
    (
        ("id", "uuid", False),
        ("name", "text", False),
        ("nickname", "text", True),
        ("active", "bool", True),
        ("balance", "decimal", True),
        ("joined_at", "timestamp", True),
        ("birthday", "date", True),
        ("profile", "json", True),
        ("score", "float", True),
        ("age", "int", True),
    ),
    ("id",),
)
ORDERS_TABLE = Table(
    "orders",
    (
        ("id", "int", False),
        ("person_id", "uuid", False),
        ("order_date", "date", False),
        ("total", "decimal", False),
        ("note", "text", True),
    ),
    ("id",),
    references=(("person_id", "people(id)"),),
)
TAGS_TABLE = Table(
    "tags",
    (("person_id", "uuid", False), ("tag", "text", False), ("weight", "int", False)),
    ("person_id", "tag"),
    references=(("person_id", "people(id)"),),
)
SNIPPETS_TABLE = Table("snippets", (("id", "int", False), ("body", "text", False)), ("id",))
# Empty at load; the write tests fill it and empty it again.
ITEMS_TABLE = Table(
    "items",
    (
        ("id", "int", False),
        ("sku", "text", False),
        ("qty", "int", False),
        ("price", "decimal", True),
        ("person_id", "uuid", True),
        ("updated_at", "timestamp", True),
        ("flag", "bool", True),
        ("doc", "json", True),
    ),
    ("id",),
    unique=("sku",),
    references=(("person_id", "people(id)"),),
)
# Text under each engine's other usual non-binary collation.
LABELS_TABLE = Table(
    "labels",
    (("id", "int", False), ("label", "text", False)),
    ("id",),
    collations={
        "postgresql": 'COLLATE "und-x-icu"',
        "mysql": "COLLATE utf8mb4_unicode_ci",
        "sqlite": "COLLATE NOCASE",
    },
)
TABLES = (PEOPLE_TABLE, ORDERS_TABLE, TAGS_TABLE, SNIPPETS_TABLE, ITEMS_TABLE, LABELS_TABLE)
VIEW = "CREATE VIEW big_orders AS SELECT id, person_id, order_date, total FROM orders WHERE total >= 100"

PERSON = {
    "ABC": uuid.UUID("0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"),
    "emile": uuid.UUID("1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"),
    "bob": uuid.UUID("4b0b0b0b-0000-4000-8000-000000000b0b"),
    "zoe": uuid.UUID("6f1c2a4e-0b7d-4c1e-9a3f-2d5e8b7c9a01"),
    "abc": uuid.UUID("9e8d7c6b-5a49-4f38-a271-605f4e3d2c1b"),
    "EMILE": uuid.UUID("c3d4e5f6-a7b8-4c9d-8e0f-a1b2c3d4e5f6"),
    "nihon": uuid.UUID("f0e1d2c3-b4a5-4968-8776-655443322110"),
}

_PLUS_TWO = timezone(timedelta(hours=2))

# (key, name, nickname, active, balance, joined_at, birthday, profile, score, age)
PEOPLE: list[tuple[Any, ...]] = [
    ("zoe", "Zoë", "zo", True, Decimal("12.50"), datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC), date(1990, 5, 17),
     {"lang": "fr", "tags": ["a", "b"], "vip": True}, 1.5, 34),
    ("emile", "émile", None, False, Decimal("0.10"), datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC),
     date(1985, 1, 1), {"lang": "fr"}, -0.25, 39),
    ("EMILE", "ÉMILE", "Em", None, Decimal("-3.00"), datetime(2022, 6, 15, 12, 0, 0, 250000, tzinfo=_PLUS_TWO),
     None, None, None, None),
    ("abc", "abc", "abc", True, Decimal("12.50"), None, date(2000, 2, 29),
     {"n": 1, "nested": {"k": [1, 2, 3]}}, 0.0, 25),
    ("ABC", "ABC", None, True, None, datetime(2019, 1, 1, tzinfo=UTC), date(1999, 12, 31),
     {"unicode": "日本 Zoë"}, 100.125, 51),
    ("nihon", "日本", "", False, Decimal("1234.56"), datetime(2023, 7, 8, 9, 10, 11, tzinfo=UTC), date(2001, 1, 1),
     {"empty": {}, "list": []}, 2.75, 18),
    ("bob", "Bob", "bobby", None, Decimal("0.10"), datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC), None,
     {"x": None}, -7.5, None),
]  # fmt: skip

# (id, person key, order_date, total, note)
ORDERS: list[tuple[Any, ...]] = [
    (1, "zoe", date(2019, 3, 1), Decimal("10.00"), "first"),
    (2, "zoe", date(2021, 1, 15), Decimal("250.00"), None),
    (3, "emile", date(2021, 12, 31), Decimal("99.99"), "gift"),
    (4, "abc", date(2022, 1, 1), Decimal("100.00"), None),
    (5, "abc", date(2021, 6, 30), Decimal("5.50"), "Note"),
    (6, "nihon", date(2020, 2, 29), Decimal("1000.00"), "ünïcödé"),
    (7, "zoe", date(2023, 11, 11), Decimal("42.00"), None),
    (8, "bob", date(2021, 7, 4), Decimal("0.01"), "note"),
    (9, "ABC", date(2024, 2, 29), Decimal("300.00"), None),
    (10, "abc", date(2021, 1, 1), Decimal("10.00"), None),
]

# (person key, tag, weight)
TAGS: list[tuple[Any, ...]] = [
    ("zoe", "vip", 1),
    ("zoe", "fr", 2),
    ("abc", "vip", 3),
    ("nihon", "jp", 1),
    ("emile", "fr", 5),
]

# Text that must travel as data: SQL fragments, quotes, backslashes, LIKE wildcards, control chars.
SNIPPETS: list[tuple[int, str]] = [
    (1, "'; DROP TABLE people; --"),
    (2, "\\' OR 1=1 --"),
    (3, "\\"),
    (4, "%"),
    (5, "_"),
    (6, "100%"),
    (7, "a_b"),
    (8, "axb"),
    (9, "tab\there\nnewline\r\x01\x1f\x7f"),
    (10, "abc "),
    (11, "abc"),
    (12, '"double" `back` /*c*/ $1 ? %s'),
    (13, "ABC"),
]

LABELS: list[tuple[int, str]] = [
    (1, "abc"),
    (2, "ABC"),
    (3, "Abc"),
    (4, "b"),
    (5, "B"),
    (6, "é"),
    (7, "E"),
    (8, "e"),
    (9, "abc "),
]

COUNTS = {
    "people": len(PEOPLE),
    "orders": len(ORDERS),
    "tags": len(TAGS),
    "snippets": len(SNIPPETS),
    "items": 0,
    "labels": len(LABELS),
    "big_orders": sum(1 for order in ORDERS if order[3] >= 100),
}


def _stored(engine: str, v: Any) -> Any:
    """`v` as the engine's plain driver takes it for the dataset's column kinds."""
    if isinstance(v, dict):
        return orjson.dumps(v).decode()
    if engine == "postgresql":
        return v
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, datetime):
        naive = v.astimezone(UTC).replace(tzinfo=None)
        return naive if engine == "mysql" else naive.isoformat(sep=" ")
    if engine == "sqlite" and isinstance(v, Decimal):
        return str(v)
    if engine == "sqlite" and isinstance(v, date):
        return v.isoformat()
    return v


async def insert(backend: Backend, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    placeholders = ", ".join(backend.placeholder(i + 1) for i in range(len(columns)))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    await backend.executemany(sql, [tuple(_stored(backend.engine, v) for v in r) for r in rows])


async def load_dataset(backend: Backend) -> None:
    """Create the tables and the view in an empty database and load the rows."""
    for table in TABLES:
        await backend.execute(table.ddl(backend.engine))
    await backend.execute(VIEW)
    people = [(PERSON[key], *rest) for key, *rest in PEOPLE]
    people_columns = [name for name, _, _ in PEOPLE_TABLE.columns]
    await insert(backend, "people", people_columns, people)
    await insert(backend, "orders", ["id", "person_id", "order_date", "total", "note"],
                 [(i, PERSON[p], d, t, n) for i, p, d, t, n in ORDERS])  # fmt: skip
    await insert(backend, "tags", ["person_id", "tag", "weight"], [(PERSON[p], t, w) for p, t, w in TAGS])
    await insert(backend, "snippets", ["id", "body"], SNIPPETS)
    await insert(backend, "labels", ["id", "label"], LABELS)
