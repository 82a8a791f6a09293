"""GraphQL semantics through the real HTTP router over real SQLite resolvers (docs/reference.md §4, §5):
aliases, fragments, variables, directives, __typename, introspection, relations of every kind,
the automatic list arguments, composite types and consistency fields."""

from __future__ import annotations

from typing import Any

from harness.mesh import InProcessMesh

from dbmesh.demo import customer_id

C1 = customer_id(1)


async def test_aliases_fragments_and_typename(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post(
        """
        query { first: customer(id: "%s") { ...Names __typename } again: customer(id: "%s") { ... on Customer { id } } }
        fragment Names on Customer { who: name mail: email }
        """
        % (C1, C1)
    )
    assert "errors" not in body
    first = body["data"]["first"]
    assert set(first) == {"who", "mail", "__typename"}
    assert first["__typename"] == "Customer"
    assert first["mail"] == "grace.1@example.com"
    assert body["data"]["again"] == {"id": C1}


async def test_variables_and_directives(demo_mesh: InProcessMesh) -> None:
    query = """
    query($id: ID!, $withEmail: Boolean!, $skipName: Boolean = false) {
      customer(id: $id) { id email @include(if: $withEmail) name @skip(if: $skipName) }
    }"""
    shown = await demo_mesh.post(query, {"id": C1, "withEmail": True})
    assert set(shown["data"]["customer"]) == {"id", "email", "name"}
    hidden = await demo_mesh.post(query, {"id": C1, "withEmail": False, "skipName": True})
    assert set(hidden["data"]["customer"]) == {"id"}


async def test_root_typename_and_introspection(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post('{ __typename __type(name: "Customer") { fields { name } } }')
    assert body["data"]["__typename"] == "Query"
    names = {f["name"] for f in body["data"]["__type"]["fields"]}
    assert {"id", "email", "allOrders", "historicalOrders", "sourceDatabase", "details"} <= names


async def test_introspection_and_data_in_one_request(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post('{ __schema { queryType { name } } c: customer(id: "%s") { name } }' % C1)
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}, "c": {"name": "Grace Lovelace"}}}


async def test_relations_one_to_one_one_to_many_many_to_one(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post(
        """{ customers(limit: 5, orderBy: [{email: ASC}]) {
              email details { phone } allOrders(orderBy: [{orderDate: DESC}]) { orderDate customer { email } }
        } }"""
    )
    assert "errors" not in body
    customers = body["data"]["customers"]
    assert [c["email"] for c in customers] == sorted(c["email"] for c in customers)
    with_orders = [c for c in customers if c["allOrders"]]
    assert with_orders, "the demo data gives some of the first customers orders"
    for c in with_orders:
        dates = [o["orderDate"] for o in c["allOrders"]]
        assert dates == sorted(dates, reverse=True)
        assert all(o["customer"]["email"] == c["email"] for o in c["allOrders"])  # many-to-one back
    assert any(c["details"] is None for c in customers) or all(c["details"]["phone"] for c in customers)


async def test_where_limit_offset_on_a_relation_are_per_parent(demo_mesh: InProcessMesh) -> None:
    everything = await demo_mesh.post(
        "{ customers(limit: 50) { id allOrders(orderBy: [{orderDate: ASC}]) { id orderDate totalAmount } } }"
    )
    paged = await demo_mesh.post(
        """{ customers(limit: 50) { id
             allOrders(orderBy: [{orderDate: ASC}], limit: 2, offset: 1, where: {totalAmount: {_gte: "10"}}) { id }
        } }"""
    )
    assert "errors" not in paged
    for full, page in zip(everything["data"]["customers"], paged["data"]["customers"], strict=True):
        expected = [o["id"] for o in full["allOrders"] if float(o["totalAmount"]) >= 10][1:3]
        assert [o["id"] for o in page["allOrders"]] == expected


async def test_year_argument_filters_by_date(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post("{ customers(limit: 50) { historicalOrders(year: 2022) { orderDate } } }")
    dates = [o["orderDate"] for c in body["data"]["customers"] for o in c["historicalOrders"]]
    assert dates and all(d.startswith("2022-") for d in dates)


async def test_where_operators_combine(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post(
        """{ customers(limit: 100, where: {_or: [{name: {_like: "Ada%"}}, {name: {_ilike: "%LOVELACE"}}],
                                         _not: {email: {_in: ["grace.1@example.com"]}}}) { name email } }"""
    )
    rows = body["data"]["customers"]
    assert rows
    assert all(r["name"].startswith("Ada") or r["name"].lower().endswith("lovelace") for r in rows)
    assert all(r["email"] != "grace.1@example.com" for r in rows)


async def test_composite_type_joins_on_its_arguments(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post(
        "query($id: ID!) { customerWithHistory(id: $id) { id customer { email } orders { customerId } } }",
        {"id": C1},
    )
    composite = body["data"]["customerWithHistory"]
    assert composite["id"] == C1
    assert composite["customer"] == {"email": "grace.1@example.com"}
    assert all(o["customerId"] == C1 for o in composite["orders"])


async def test_source_database_names_the_database_that_served_the_row(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post('{ customer(id: "%s") { sourceDatabase } }' % C1)
    assert body["data"]["customer"]["sourceDatabase"] == "postgres_primary"


async def test_decimals_dates_and_timestamps_are_canonical(demo_mesh: InProcessMesh) -> None:
    body = await demo_mesh.post("{ orders(limit: 3) { orderDate totalAmount } customers(limit: 1) { createdAt } }")
    for order in body["data"]["orders"]:
        assert len(order["orderDate"]) == 10
        whole, cents = order["totalAmount"].split(".")
        assert whole.lstrip("-").isdigit() and len(cents) == 2
    created: Any = body["data"]["customers"][0]["createdAt"]
    assert created.endswith("Z") and "T" in created
