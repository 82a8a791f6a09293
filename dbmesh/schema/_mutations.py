"""The fields of `@types.object class Mutation` (docs/reference.md §10).

A mutation field is a method named `insert_<anything>`, `update_<anything>` or
`delete_<anything>`, decorated with `@database(name)` and returning `list[T]` of an object type:
it writes rows of `T` to `name`. Its GraphQL arguments (`objects`, `onConflict`, `where`, `set`,
`inc`) are built from `T`, so the method takes no parameters besides `self`. A write goes to its
one database or fails, so `fallback=`, `fallback_on=` and `affinity=` do not apply, nor do `on=`
and `args=`. A database configured `read_only` is never written by the API: a field aimed at one
is an error. `write_through=` (a name or a list of other databases) is checked and recorded.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any

from dbmesh.schema._annotations import Fail
from dbmesh.schema.dsl import DatabaseDeclaration
from dbmesh.schema.model import MutationKind

__all__ = ["PREFIXES", "check_declaration", "mutation_kind", "read_only_problem", "write_through"]

PREFIXES = {f"{kind.value}_": kind for kind in MutationKind}


def read_only_problem(database: str) -> str:
    return f"database {database!r} is read_only: the API never writes there"


def mutation_kind(name: str, fail: Fail) -> MutationKind:
    """The kind a field's name says; a name without one of the prefixes (and a word after it) fails."""
    for prefix, kind in PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return kind
    fail("a mutation field's name starts with insert_, update_ or delete_ (then the rows it writes)")


def check_declaration(
    declaration: DatabaseDeclaration | None,
    method: Any,
    databases: Collection[str] | None,
    read_only: Collection[str],
    fail: Fail,
) -> str:
    """The database a mutation field writes; fails on anything `@database` may not say here."""
    if declaration is None:
        fail("a mutation field needs @database(...) naming the database it writes")
    params = list(inspect.signature(method).parameters)
    if params[:1] != ["self"]:
        fail("the first parameter must be self")
    if len(params) > 1:
        fail(
            f"a mutation field takes no parameters besides self (got {', '.join(params[1:])}); its "
            "arguments (objects, onConflict, where, set, inc) come from the type it returns"
        )
    name = declaration.name
    if not isinstance(name, str) or not name:
        fail(f"@database needs a database name, not {name!r}")
    if databases is not None and name not in databases:
        fail(f"unknown database {name!r}; configured databases: {', '.join(sorted(databases)) or '(none)'}")
    if name in read_only:
        fail(read_only_problem(name))
    refused = {
        "fallback=": declaration.fallback is not None,
        "fallback_on=": tuple(declaration.fallback_on or ()) not in (("unavailable",), ()),
        "affinity=": declaration.affinity != "read_primary",
        "on=": declaration.on is not None,
        "args=": declaration.args is not None,
    }
    for option, given in refused.items():
        if given:
            fail(f"{option} does not apply to a mutation field: a write goes to its own database or fails")
    return name


def write_through(declaration: DatabaseDeclaration, databases: Collection[str] | None, fail: Fail) -> tuple[str, ...]:
    """`write_through=` as a checked tuple of database names."""
    value = declaration.write_through
    if value is None:
        return ()
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
        fail(f"write_through= must be a database name or a list of names, not {value!r}")
    for i, other in enumerate(names):
        if other == declaration.name:
            fail(f"write_through database {other!r} is the field's own database")
        if other in names[:i]:
            fail(f"write_through= names {other!r} twice")
        if databases is not None and other not in databases:
            fail(f"unknown write_through database {other!r}; configured databases: {', '.join(sorted(databases))}")
    return tuple(names)
