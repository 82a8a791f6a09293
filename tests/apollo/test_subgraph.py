"""dbmesh's federation subgraph fields (docs/reference.md §15) on a real router over real
resolvers (PostgreSQL and SQLite): `_service { sdl }` exactly as the snapshot, `_entities` in
representation order from one fetch per type, each refusal's exact error, and what stays as it
was with federation off (the default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apollo.conftest import SCHEMA, customer_id
from graphql import build_schema, print_type
from harness.mesh import InProcessMesh

from dbmesh.config import RouterConfig, parse_config
from dbmesh.errors import ConfigError
from dbmesh.router.preparation import Preparation, Rejected
from dbmesh.router.schema import build_graphql_schema
from dbmesh.schema import load_schema

SNAPSHOT = Path(__file__).parent / "samples" / "subgraph.graphql"
ENTITIES = """query($r: [_Any!]!) {
  _entities(representations: $r) {
    __typename
    ... on Customer { name orders(orderBy: [{total: DESC}]) { total } }
    ... on Order { id total }
  }
}"""


def customer(n: int) -> dict[str, Any]:
    return {"__typename": "Customer", "id": customer_id(n)}


def _preparation(**router: Any) -> Preparation:
    schema, index = build_graphql_schema(load_schema(SCHEMA), federation=router.get("federation", True))
    return Preparation(schema, index, RouterConfig(**{"federation": True, **router}))


def _refused(prepared: object, message: str, code: str = "BAD_USER_INPUT") -> None:
    assert isinstance(prepared, Rejected)
    assert prepared.errors == [{"message": message, "extensions": {"code": code}}]


async def test_service_sdl_is_the_subgraph_schema_with_link_and_keys(subgraph: InProcessMesh) -> None:
    body = await subgraph.post("{ _service { sdl } }")
    sdl = body["data"]["_service"]["sdl"]
    assert sdl == SNAPSHOT.read_text()
    assert sdl.startswith('extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])')
    keyed = [line for line in sdl.splitlines() if "@key" in line and line.startswith("type ")]
    assert keyed == ['type Customer @key(fields: "id") {', 'type Order @key(fields: "id") {']
    assert "type Note {" in sdl  # no id column: not an entity
    assert "_entities" not in sdl and "_Any" not in sdl and "_service" not in sdl


async def test_entities_come_back_in_representation_order_from_one_fetch_per_type(subgraph: InProcessMesh) -> None:
    representations = [
        customer(2),
        {"__typename": "Order", "id": 3},
        customer(99),  # no such row: null
        customer(1),
        customer(2),  # the same key again: fetched once
        {"__typename": "Order", "id": 1},
    ]
    body = await subgraph.post(ENTITIES, {"r": representations}, extensions={"trace": True})
    assert "errors" not in body
    assert body["data"] == {
        "_entities": [
            {"__typename": "Customer", "name": "Customer 2", "orders": [{"total": 30}]},
            {"__typename": "Order", "id": 3, "total": 30},
            None,
            {"__typename": "Customer", "name": "Customer 1", "orders": [{"total": 20}, {"total": 10}]},
            {"__typename": "Customer", "name": "Customer 2", "orders": [{"total": 30}]},
            {"__typename": "Order", "id": 1, "total": 10},
        ]
    }
    trace = body["extensions"]["trace"]
    fetches = {(route["database"], route["fetch"]) for route in trace["routes"]}
    # Customers from PostgreSQL, their orders and the Order entities from SQLite: three calls.
    assert sorted(database for database, _ in fetches) == ["pg", "shop", "shop"]
    assert trace["plan"]["fetches"] == 3


async def test_entities_mix_with_ordinary_root_fields(subgraph: InProcessMesh) -> None:
    query = (
        "query($r: [_Any!]!) { first: _entities(representations: $r) { ... on Customer { name } }"
        " notes(limit: 1) { text } }"
    )
    body = await subgraph.post(query, {"r": [customer(3)]})
    assert body == {"data": {"first": [{"name": "Customer 3"}], "notes": []}}
    body = await subgraph.post('{ _service { __typename } customer(id: "%s") { name } }' % customer_id(1))
    assert body == {"data": {"_service": {"__typename": "_Service"}, "customer": {"name": "Customer 1"}}}


async def test_a_type_the_selection_does_not_ask_for_is_an_empty_object(subgraph: InProcessMesh) -> None:
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { total } } }"
    body = await subgraph.post(query, {"r": [customer(1), {"__typename": "Order", "id": 2}]})
    assert body == {"data": {"_entities": [{}, {"total": 20}]}}


async def test_an_unavailable_database_nulls_only_its_entities(subgraph: InProcessMesh) -> None:
    await subgraph.stop_resolver("shop")
    try:
        body = await subgraph.post(
            ENTITIES.replace("orders(orderBy: [{total: DESC}]) { total }", ""),
            {"r": [{"__typename": "Order", "id": 1}, customer(1), {"__typename": "Order", "id": 2}]},
        )
    finally:
        await subgraph.start_resolver("shop")
        await subgraph.router_probe()
    assert body["data"] == {"_entities": [None, {"__typename": "Customer", "name": "Customer 1"}, None]}
    [error] = body["errors"]
    assert (error["path"], error["extensions"]["code"], error["extensions"]["database"]) == (
        ["_entities", 0],
        "DATABASE_UNAVAILABLE",
        "shop",
    )


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        ({"id": customer_id(1)}, "_entities: representations[1] must be an object with a __typename"),
        ("Customer", "_entities: representations[1] must be an object with a __typename"),
        (
            {"__typename": "Note", "id": 1},
            "_entities: representations[1]: 'Note' is not an entity of this subgraph (entities: Customer, Order)",
        ),
        ({"__typename": "Customer"}, "_entities: representations[1]: Customer needs its key field id"),
        ({"__typename": "Customer", "id": None}, "_entities: representations[1]: Customer needs its key field id"),
        ({"__typename": "Customer", "id": [1]}, "_entities: representations[1]: Customer.id is not a valid ID"),
        ({"__typename": "Order", "id": "3"}, "_entities: representations[1]: Order.id is not a valid Int"),
        ({"__typename": "Order", "id": True}, "_entities: representations[1]: Order.id is not a valid Int"),
    ],
)
async def test_a_bad_representation_refuses_the_request(
    subgraph: InProcessMesh, representation: Any, message: str
) -> None:
    body = await subgraph.post(ENTITIES, {"r": [customer(1), representation]})
    assert body == {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}


def test_the_cost_counts_each_types_fetches_once_per_representation() -> None:
    preparation = _preparation(max_cost=6)
    # A customer costs 1 row and its unbounded orders 10 per customer: 11 per representation.
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { name orders { total } } } }"
    _refused(
        preparation.prepare(query, None, {"r": [customer(1)]}),
        "Query is too complex: estimated cost 11 rows exceeds the maximum of 6.",
        "QUERY_TOO_COMPLEX",
    )
    names = (
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { name } } notes(limit: 1) { text } }"
    )
    assert not isinstance(preparation.prepare(names, None, {"r": [customer(n) for n in range(1, 6)]}), Rejected)
    _refused(
        preparation.prepare(names, None, {"r": [customer(n) for n in range(1, 7)]}),
        "Query is too complex: estimated cost 7 rows exceeds the maximum of 6.",
        "QUERY_TOO_COMPLEX",
    )


def test_federation_is_off_by_default_and_changes_nothing_then() -> None:
    assert RouterConfig().federation is False
    model = load_schema(SCHEMA)
    plain, _ = build_graphql_schema(model)
    federated, _ = build_graphql_schema(model, federation=True)
    assert "_service" not in plain.query_type.fields and plain.get_type("_Any") is None
    assert set(federated.query_type.fields) - set(plain.query_type.fields) == {"_service", "_entities"}
    for name, graphql_type in plain.type_map.items():  # every type of today's schema is as it was
        if name != "Query":
            assert print_type(federated.type_map[name]) == print_type(graphql_type)
    preparation = _preparation(federation=False)
    prepared = preparation.prepare("{ _service { sdl } }", None, None)
    assert isinstance(prepared, Rejected)
    assert prepared.errors[0]["message"] == "Cannot query field '_service' on type 'Query'."


def test_a_schema_without_entity_types_has_service_but_no_entities(tmp_path: Path) -> None:
    module = tmp_path / "no_entities.py"
    module.write_text(
        "from dbmesh import database, types\n\n\n@types.object\nclass Note:\n    text: str\n\n\n"
        '@types.object\nclass Query:\n    @database("main")\n    def notes(self) -> list[Note]: ...\n'
    )
    schema, _ = build_graphql_schema(load_schema(module), federation=True)
    assert set(schema.query_type.fields) == {"notes", "databaseStatus", "syncStatus", "_service"}
    assert schema.get_type("_Entity") is None and schema.get_type("_Any") is None
    build_schema(schema.query_type.fields["_service"].resolve(None, None)["sdl"].split("\n\n", 1)[1])


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ('"true"', True)],
)
def test_router_federation_config_key(value: str, expected: bool) -> None:
    config = parse_config(
        f'[[databases]]\nname = "main"\nengine = "sqlite"\npath = "x.db"\n[router]\nfederation = {value}\n'
    )
    assert config.router.federation is expected


def test_router_federation_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config('[[databases]]\nname = "main"\nengine = "sqlite"\npath = "x.db"\n[router]\nfederation = "yes"\n')
    assert str(raised.value) == "<config>: router.federation: expected a boolean, got a string ('yes')"
