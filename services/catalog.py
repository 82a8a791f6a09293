"""What a service knows of its database: collections (tables and views), columns and keys, as
introspected at start. Every identifier in a request is checked here before any SQL is built;
anything unknown is INVALID_ARGUMENT naming it (SPEC §8)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dbmesh.services.errors import InvalidArgument

__all__ = ["Catalog", "CollectionInfo", "ColumnInfo", "Logical"]


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
    # The collation that makes comparisons and sorting exact and in code-point order, when the
    # column's own may not be: "C" for PostgreSQL text (its locale may sort 'a' before 'B'),
    # "utf8mb4_bin" for a MySQL column whose collation ignores case.
    exact_collation: str | None = None
    # Equality, IN and LIKE need `exact_collation` too (MySQL's case-insensitive collations);
    # PostgreSQL equality is exact whatever the collation.
    case_insensitive: bool = False


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    columns: dict[str, ColumnInfo]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    is_view: bool = False

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
