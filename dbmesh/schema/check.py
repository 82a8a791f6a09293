"""Does each database have what the schema needs from it? (SPEC §4, issue: schema check)

A type served by a database (as a root field or relation, or as a fallback of one) needs its
table there with all its columns. Used by the router at start and by `dbmesh check`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from dbmesh.schema.model import SchemaModel

__all__ = ["schema_problems", "served_types"]


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
    return served


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
