"""`dbmesh init` (docs/reference.md §15): a schema module written from what the databases hold.

Every configured database's tables, views, columns and keys are read through its resolver's
GetSchema (`_fetch`); `_design` decides the types, relations and root fields; `_render` writes
them as schema DSL (§4). What is written is loaded back (schema and GraphQL schema) before the
file is created, so `dbmesh check` passes on it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from dbmesh.config import load_config
from dbmesh.errors import DbmeshError, SchemaError
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.scaffold._design import SchemaDesign, design
from dbmesh.scaffold._fetch import fetch_schemas
from dbmesh.scaffold._render import render
from dbmesh.schema.model import SchemaModel

__all__ = ["GraphqlCheck", "SchemaDesign", "design", "generate", "init_schema"]

GraphqlCheck = Callable[[SchemaModel], object]


def generate(databases: list[str], schemas: Mapping[str, pb.Schema], config_label: str) -> tuple[str, SchemaDesign]:
    """The module's text for `schemas` (database -> GetSchema; `databases` in config order)."""
    designed = design(databases, schemas)
    return render(designed, config_label), designed


def _checked(text: str, databases: list[str], read_only: list[str], graphql: GraphqlCheck | None) -> None:
    """Load `text` as `dbmesh check` would (and, with `graphql`, build its GraphQL schema as the
    router does); a failure here is a bug in `dbmesh init`."""
    from dbmesh.schema import load_schema

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "schema.py"
        path.write_text(text, encoding="utf-8")
        try:
            model = load_schema(path, databases, read_only=read_only)
            if graphql is not None:
                graphql(model)
        except (SchemaError, ValueError, TypeError) as exc:
            raise DbmeshError(
                f"dbmesh init made a schema that does not load (a bug, please report it): {exc}"
            ) from None


def _refuse_existing(output: str) -> None:
    if Path(output).exists():
        raise DbmeshError(f"{output}: already exists; pass --force to overwrite it")


def _write(output: str, text: str, *, force: bool) -> None:
    try:
        with Path(output).open("w" if force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        _refuse_existing(output)
    except OSError as exc:
        raise DbmeshError(f"{output}: cannot write: {exc.strerror}") from None


async def init_schema(
    config_path: str, output: str, *, force: bool, running: bool, graphql: GraphqlCheck | None = None
) -> str:
    """Write the schema module of the databases of `config_path` to `output`; the line to print.
    An existing `output` is refused unless `force`, before any database is asked. `graphql`
    builds the router's GraphQL schema of a model (given by the composition root, `commands`:
    this package imports neither router nor services)."""
    if not force:
        _refuse_existing(output)
    config = load_config(config_path)
    names = [d.name for d in config.databases]
    schemas = await fetch_schemas(config, config_path, running=running)
    text, designed = generate(names, schemas, Path(config_path).name)
    _checked(text, names, [d.name for d in config.databases if d.read_only], graphql)
    _write(output, text, force=force)
    relations = sum(len(t.relations) for t in designed.types)
    return (
        f"wrote {output}: {len(designed.types)} types, {relations} relations, {len(designed.roots)} root fields "
        f"from {len(names)} database{'' if len(names) == 1 else 's'}"
    )
