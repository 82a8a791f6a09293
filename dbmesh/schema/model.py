"""The schema model: what a schema module (docs/reference.md §4) declares, as frozen data.

The DSL (`dbmesh.types`, `dbmesh.database`) records declarations; `dbmesh.schema.load_schema`
turns a module into this model; the router builds its GraphQL schema and its plans from the model
alone. Names here are the Python (snake_case) names, which are also the table and column names;
`graphql_name` is the camelCase name the API shows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

__all__ = [
    "DEFAULT_MAX_STALENESS",
    "MISSING",
    "Argument",
    "ArgumentKind",
    "Column",
    "FieldSource",
    "MutationField",
    "MutationKind",
    "ObjectType",
    "Relation",
    "RootField",
    "Scalar",
    "SchemaModel",
]

DEFAULT_MAX_STALENESS = timedelta(hours=1)


class _Missing:
    """The default of an argument that has none."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Scalar(enum.Enum):
    """A column's type. The value is the GraphQL scalar's name (docs/reference.md §4 type mapping)."""

    STRING = "String"  # str
    INT = "Int"  # int
    FLOAT = "Float"  # float
    BOOLEAN = "Boolean"  # bool
    ID = "ID"  # UUID: one canonical form (lower-case, hyphenated)
    DATETIME = "DateTime"  # datetime: ISO 8601 string
    DATE = "Date"  # date: YYYY-MM-DD
    DECIMAL = "Decimal"  # Decimal: an exact string
    JSON = "JSON"  # dict


@dataclass(frozen=True)
class Column:
    """An annotated attribute of an object type: a column of its table."""

    name: str
    graphql_name: str
    scalar: Scalar
    nullable: bool


@dataclass(frozen=True)
class FieldSource:
    """Where a root field or relation is served: `@database(name, fallback=..., ...)`."""

    database: str
    fallbacks: tuple[str, ...] = ()
    # "unavailable" always; "not_found" too when the field asks for it (single-object fields).
    fallback_on: frozenset[str] = frozenset({"unavailable"})
    affinity: str = "read_primary"  # "read_primary" | "read_replica"


class ArgumentKind(enum.Enum):
    FILTER = "filter"  # compares `column` with `operator`
    LIMIT = "limit"
    OFFSET = "offset"


@dataclass(frozen=True)
class Argument:
    """A declared argument of a root field or relation (the automatic `where`, `orderBy`, `limit`
    and `offset` of list fields are not listed here: every list field has them)."""

    name: str
    graphql_name: str
    kind: ArgumentKind
    scalar: Scalar
    nullable: bool  # the GraphQL argument type is nullable (it has a default, or `X | None`)
    is_list: bool  # a list argument: filters with IN
    default: Any = MISSING  # a Python value, or MISSING
    column: str | None = None  # FILTER: the target type's column it filters
    operator: str = "eq"  # FILTER: eq, neq, gt, gte, lt, lte, in, nin, like, ilike, is_null, year


@dataclass(frozen=True)
class Relation:
    """A method of an object type decorated with `@database`: rows of `target` served by another
    (or the same) database, joined to the source object by `join`."""

    name: str
    graphql_name: str
    owner: str  # the object type that declares it
    target: str  # the object type it returns
    many: bool  # returns a list
    item_nullable: bool  # list items may be null (the relation itself is always nullable)
    source: FieldSource
    # (target_column, source_column) pairs: target.<target_column> = source.<source_column>
    join: tuple[tuple[str, str], ...]
    arguments: tuple[Argument, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class ObjectType:
    """A class decorated with `@types.object` (other than `Query`)."""

    name: str
    table: str
    columns: tuple[Column, ...]
    relations: tuple[Relation, ...] = ()
    # A virtual (composite) type is returned by a root field without @database; it has no table
    # and its columns are filled from that field's arguments.
    virtual: bool = False
    # Consistency fields (docs/reference.md §4).
    has_source_database: bool = False  # declares `source_database: str`
    last_sync_column: str | None = None  # declares `last_sync: datetime`: the column it reads
    has_is_stale: bool = False  # declares `is_stale: bool`
    max_staleness: timedelta = DEFAULT_MAX_STALENESS
    description: str | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class RootField:
    """A method of `Query`."""

    name: str
    graphql_name: str
    target: str
    many: bool
    item_nullable: bool
    # None: a composite root field (no @database) that builds a virtual object from its arguments.
    source: FieldSource | None
    arguments: tuple[Argument, ...] = ()
    description: str | None = None


class MutationKind(enum.Enum):
    """What a mutation field does, from its name's prefix (docs/reference.md §10)."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class MutationField:
    """A method of `Mutation`: writes rows of `target` to `database` (never a fallback: a write
    goes to its one database or fails)."""

    name: str
    graphql_name: str
    kind: MutationKind
    target: str
    database: str
    # write_through= as declared (docs/reference.md §11); recorded and checked, not applied yet.
    write_through: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class SchemaModel:
    types: dict[str, ObjectType]
    query: tuple[RootField, ...]
    # Things the loader left out, one line each (e.g. a composite root field whose type is not
    # defined), shown by `dbmesh check`.
    warnings: tuple[str, ...] = field(default=())
    mutation: tuple[MutationField, ...] = ()
    source: str = "<module>"  # the schema module, as named in errors

    def type(self, name: str) -> ObjectType:
        return self.types[name]

    def databases(self) -> set[str]:
        """Every database a field is served by, fallbacks included."""
        names: set[str] = set()
        sources = [f.source for f in self.query if f.source]
        sources += [r.source for t in self.types.values() for r in t.relations]
        for s in sources:
            names.add(s.database)
            names.update(s.fallbacks)
        for m in self.mutation:
            names.add(m.database)
            names.update(m.write_through)
        return names
