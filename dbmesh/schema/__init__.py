"""The schema: what a schema module declares with the DSL (docs/reference.md §4), as a model.

A schema module uses `dbmesh.types` and `dbmesh.database` (`dbmesh.schema.dsl`);
`load_schema(path, databases)` runs it and returns a `SchemaModel` of frozen dataclasses, or raises
a one-line `SchemaError` naming the file, class and field. The router builds its GraphQL schema and
its plans from the model alone; `naming` holds the snake_case/camelCase/table-name rules.
"""

from __future__ import annotations

from dbmesh.schema.loader import build_schema, load_schema
from dbmesh.schema.model import (
    DEFAULT_MAX_STALENESS,
    MISSING,
    Argument,
    ArgumentKind,
    Column,
    FieldSource,
    MutationField,
    MutationKind,
    ObjectType,
    Relation,
    RootField,
    Scalar,
    SchemaModel,
)

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
    "build_schema",
    "load_schema",
]
