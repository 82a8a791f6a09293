"""Does each database have what the schema needs from it? (docs/reference.md §4, issue: schema check)

A type served by a database (as a root field or relation, or as a fallback of one, or written
there by a mutation field) needs its table there with all its columns. Used by the router at
start and by `dbmesh check`. `read_only_writes` finds mutation fields aimed at databases the
configuration makes `read_only`, for callers that loaded the schema without saying which are.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from dbmesh.schema._mutations import read_only_problem
from dbmesh.schema.model import SchemaModel

__all__ = ["read_only_writes", "schema_problems", "served_types"]


def served_types(model: SchemaModel) -> dict[str, dict[str, str]]:
    """database -> type name -> the first field that makes the database serve it."""
    served: dict[str, dict[str, str]] = {}
    for root in model.query:
        if root.source:
            for db in (root.source.database, *root.source.fallbacks):
                served.setdefault(db, {}).setdefault(root.target, f"Query.{root.name}")
    for obj in model.types.values():
        for rel in obj.relations:
            for db in (rel.source.database, *rel.source.fallbacks):
                served.setdefault(db, {}).setdefault(rel.target, f"{obj.name}.{rel.name}")
    for mutation in model.mutation:
        for db in (mutation.database, *mutation.write_through):
            served.setdefault(db, {}).setdefault(mutation.target, f"Mutation.{mutation.name}")
    return served


def read_only_writes(model: SchemaModel, read_only: Collection[str]) -> list[str]:
    """One line per mutation field that writes a database in `read_only`, as the loader says it."""
    return [
        f"{model.source}: Mutation.{m.name}: {read_only_problem(m.database)}"
        for m in model.mutation
        if m.database in read_only
    ]


def schema_problems(model: SchemaModel, database: str, tables: Mapping[str, Collection[str]]) -> list[str]:
    """What `database` (whose tables and columns are `tables`) lacks, one line each."""
    problems = []
    for type_name, via in served_types(model).get(database, {}).items():
        obj = model.types[type_name]
        if obj.table not in tables:
            problems.append(f"{type_name} (served by {via}): database {database!r} has no table {obj.table!r}")
            continue
        missing = [c.name for c in obj.columns if c.name not in tables[obj.table]]
        if missing:
            problems.append(
                f"{type_name} (served by {via}): table {obj.table!r} in database {database!r} "
                f"has no column {', '.join(repr(m) for m in missing)}"
            )
    return problems
