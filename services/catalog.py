"""What a service knows of its database: collections (tables and views), columns and keys, as
introspected at start. Everything the compiler and the dialects need to know about the database
(types, scales, collations, what the server supports) is recorded here by the engine's
introspection; dialects hold no state of their own. Every identifier in a request is checked here
before any SQL is built; anything unknown is INVALID_ARGUMENT naming it (docs/reference.md §8)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dbmesh.services.errors import InvalidArgument

__all__ = ["Catalog", "CollectionInfo", "ColumnInfo", "ForeignKeyInfo", "Logical"]


class Logical(enum.IntEnum):
    """How a column's values are read and written; numbers match the contract's LogicalType."""

    UNSPECIFIED = 0
    STRING = 1
    INT = 2
    FLOAT = 3
    BOOLEAN = 4
    UUID = 5
    DATETIME = 6
    DATE = 7
    DECIMAL = 8
    JSON = 9


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    db_type: str  # as the engine names it: "numeric(10,2)", "tinyint(1)", "TEXT"
    logical: Logical  # what the column is read as when a request does not say
    nullable: bool = True
    scale: int | None = None  # decimals: digits after the point, when declared
    precision: int | None = None  # decimals: significant digits, when declared (NUMERIC(p, s)'s p)
    # The collation that makes comparisons and sorting exact and in code-point order, when the
    # column's own may not be: "C" for PostgreSQL text (its locale may sort 'a' before 'B'),
    # "utf8mb4_bin" for a MySQL column whose collation ignores case.
    exact_collation: str | None = None
    # Equality, IN and LIKE need `exact_collation` too (MySQL's case-insensitive collations);
    # PostgreSQL equality is exact whatever the collation.
    case_insensitive: bool = False
    # PostgreSQL: the column's type without modifiers, domains seen through ("numeric(10,2)" ->
    # "numeric", "character(3)" -> "bpchar"), for array casts; "" when not introspected.
    base_type: str = ""
    # A timestamp that keeps its time zone (PostgreSQL's timestamptz, domains included).
    zoned: bool = False
    # The collation `_ilike` lowers both sides under (PostgreSQL's ICU root collation, when the
    # server has it); None: the database's default.
    fold_collation: str | None = None


@dataclass(frozen=True)
class ForeignKeyInfo:
    """`columns` reference `referenced_columns` (pairwise, in order) of `referenced` in the same
    database. Reported by GetSchema for `dbmesh init`; requests never depend on it."""

    name: str
    columns: tuple[str, ...]
    referenced: str
    referenced_columns: tuple[str, ...]


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    columns: dict[str, ColumnInfo]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    is_view: bool = False
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()
    # Rows stored in primary key order (MySQL/MariaDB InnoDB): a range of the primary key read
    # through it comes in key order (services/checksum_sql.py `segment_sql`).
    clustered: bool = False

    def column(self, name: str) -> ColumnInfo:
        info = self.columns.get(name)
        if info is None:
            raise InvalidArgument(f"unknown column {name!r} in collection {self.name!r}")
        return info


@dataclass
class Catalog:
    collections: dict[str, CollectionInfo] = field(default_factory=dict)

    def collection(self, name: str) -> CollectionInfo:
        info = self.collections.get(name)
        if info is None:
            raise InvalidArgument(f"unknown collection {name!r}")
        return info
