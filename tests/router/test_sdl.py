"""The guide's schema module (docs/reference.md §4) loads with only its import changed, and the GraphQL schema
built from it is exactly the snapshot in guide_schema.graphql (set DBMESH_UPDATE_SNAPSHOTS=1 to
rewrite it after an intended change, then review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

from graphql import build_schema, print_schema

from dbmesh.router.schema import build_graphql_schema
from dbmesh.schema import load_schema

HERE = Path(__file__).parent
GUIDE = HERE.parent / "unit" / "schema" / "samples" / "guide_schema.py"
SNAPSHOT = HERE / "samples" / "guide_schema.graphql"


def test_guide_schema_sdl_snapshot() -> None:
    model = load_schema(GUIDE, ["postgres_primary", "mysql_historical", "sqlite_cache"])
    schema, _ = build_graphql_schema(model)
    sdl = print_schema(schema) + "\n"
    if os.environ.get("DBMESH_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(sdl)
    assert sdl == SNAPSHOT.read_text()
    build_schema(sdl)  # the SDL is valid on its own


def test_guide_queries_validate_against_it() -> None:
    from graphql import parse, validate

    model = load_schema(GUIDE)
    schema, _ = build_graphql_schema(model)
    query = "query GetCustomer($customerId: ID!) { customer(id: $customerId) { id email name } }"
    assert validate(schema, parse(query)) == []
    health = "query FederationHealth { databaseStatus { name connected latency_ms last_check } }"
    assert validate(schema, parse(health)) == []


MUTATIONS = HERE / "mutation_schema.py"
MUTATIONS_SNAPSHOT = HERE / "samples" / "mutation_schema.graphql"


def test_mutation_schema_sdl_snapshot() -> None:
    """The Mutation type and the input, enum and result types of the types it writes
    (docs/reference.md §10), exactly; DBMESH_UPDATE_SNAPSHOTS=1 rewrites it."""
    schema, _ = build_graphql_schema(load_schema(MUTATIONS, ["main", "ledger"]))
    sdl = print_schema(schema) + "\n"
    if os.environ.get("DBMESH_UPDATE_SNAPSHOTS") == "1":
        MUTATIONS_SNAPSHOT.write_text(sdl)
    assert sdl == MUTATIONS_SNAPSHOT.read_text()
    for line in (
        "  insertCustomers(objects: [CustomerInsert!]!, onConflict: CustomerOnConflict): CustomerMutationResult",
        "  updateCustomers(where: CustomerWhere!, set: CustomerSet, inc: CustomerInc): CustomerMutationResult",
        "  deleteCustomers(where: CustomerWhere!): CustomerMutationResult",
        "  columns: [CustomerColumn!]!",
        "  update: [CustomerColumn!]!",
        "  affectedRows: Int!",
        "  returning: [Customer!]!",
    ):
        assert line in sdl.splitlines()
    build_schema(sdl)
