"""The schema DSL (docs/reference.md §4): `@types.object` and `@database(...)`.

The decorators only record what they are given, as an attribute on the class or function they
decorate, and return it unchanged: a schema module imports and runs like any other module, and its
methods stay callable (they do nothing). `dbmesh.schema.loader` reads the records back, checks them
and builds the schema model; every mistake is reported there, as one line naming the class and field.

    from dbmesh import types, database

    @types.object(table="clients", max_staleness=timedelta(minutes=5))
    class Customer:
        id: UUID

        @database("mysql_historical", fallback="sqlite_cache")
        def orders(self) -> list["Order"]: ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, overload

__all__ = [
    "BATCH_MARK",
    "DATABASE_MARK",
    "OBJECT_MARK",
    "DatabaseDeclaration",
    "ObjectDeclaration",
    "database",
    "types",
]

# The attributes the decorators set. OBJECT_MARK is read from the class's own __dict__ only, so a
# subclass of an object type is not an object type unless it is decorated too.
OBJECT_MARK = "__dbmesh_object__"
DATABASE_MARK = "__dbmesh_database__"  # a tuple: one DatabaseDeclaration per @database applied
BATCH_MARK = "__dbmesh_batch__"

_C = TypeVar("_C", bound=type)
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ObjectDeclaration:
    """The options of `@types.object(...)`, as written (the loader checks them)."""

    table: Any = None
    last_sync_column: Any = None
    max_staleness: Any = None


@dataclass(frozen=True)
class DatabaseDeclaration:
    """The arguments of `@database(...)`, as written (the loader checks them)."""

    name: Any
    fallback: Any = None
    fallback_on: Any = ("unavailable",)
    affinity: Any = "read_primary"
    on: Any = None
    args: Any = None
    write_through: Any = None


class _Types:
    """The `types` namespace of the guide's `from FraiseQL import types, database`."""

    @overload
    def object(self, cls: _C, /) -> _C: ...

    @overload
    def object(
        self,
        /,
        *,
        table: str | None = None,
        last_sync_column: str | None = None,
        max_staleness: timedelta | None = None,
    ) -> Callable[[_C], _C]: ...

    def object(
        self,
        cls: Any = None,
        /,
        *,
        table: Any = None,
        last_sync_column: Any = None,
        max_staleness: Any = None,
    ) -> Any:
        """Mark a class as a GraphQL object type: `@types.object` or `@types.object(table=...,
        last_sync_column=..., max_staleness=timedelta(...))`."""
        declaration = ObjectDeclaration(table, last_sync_column, max_staleness)

        def mark(target: _C) -> _C:
            if not isinstance(target, type):
                raise TypeError(f"@types.object decorates a class, not {target!r}")
            setattr(target, OBJECT_MARK, declaration)
            return target

        if cls is None:
            return mark
        if not isinstance(cls, type):
            raise TypeError('types.object takes its options by keyword: @types.object(table="...")')
        return mark(cls)


class _Database:
    """`@database(name, ...)` and `@database.batch`."""

    def __call__(
        self,
        name: str,
        /,
        *,
        fallback: str | Sequence[str] | None = None,
        fallback_on: Sequence[str] = ("unavailable",),
        affinity: str = "read_primary",
        on: Mapping[str, str] | None = None,
        args: Mapping[str, tuple[str, str]] | None = None,
        write_through: str | Sequence[str] | None = None,
    ) -> Callable[[_F], _F]:
        """Serve a root field or relation from database `name` (docs/reference.md §4, §7), or write a mutation
        field's rows there (docs/reference.md §10): `fallback` is a name or a list tried in order;
        `on={"target_col": "source_col"}` states a relation's join; `args={"arg": ("column",
        "operator")}` maps an argument to a filter; `write_through` (mutation fields) names the
        databases the written rows are copied to (docs/reference.md §11)."""
        declaration = DatabaseDeclaration(name, fallback, fallback_on, affinity, on, args, write_through)

        def mark(method: _F) -> _F:
            setattr(method, DATABASE_MARK, (*getattr(method, DATABASE_MARK, ()), declaration))
            return method

        return mark

    @overload
    def batch(self, method: _F, /) -> _F: ...

    @overload
    def batch(self, /) -> Callable[[_F], _F]: ...

    def batch(self, method: Any = None, /) -> Any:
        """Accepted for the guide's sake, above or below `@database(...)` or alone: every relation
        is batched anyway (docs/reference.md §4)."""

        def mark(target: _F) -> _F:
            setattr(target, BATCH_MARK, True)
            return target

        return mark if method is None else mark(method)


types = _Types()
database = _Database()
