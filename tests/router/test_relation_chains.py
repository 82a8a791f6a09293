"""A chain of relations served by one database is ONE resolver call (docs/reference.md §8, the
request's `nested`): customer (postgres_primary) -> allOrders -> items (both mysql_historical) is
two calls, one per database, and still three SQL statements; its data is what separate calls
gave. A nested relation whose arguments are bad fails alone, at its own path."""

from __future__ import annotations

import contextlib
import sqlite3
from decimal import Decimal
from typing import Any

import httpx
from harness.mesh import InProcessMesh
from prometheus_client.parser import text_string_to_metric_families

from dbmesh.demo import customer_id

C1 = customer_id(1)
NESTED = """query($id: ID!, $n: Int) {
  customer(id: $id) { name allOrders(orderBy: [{orderDate: DESC}]) { id items(limit: $n) { quantity price } } }
}"""


async def _post(mesh: InProcessMesh, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    payload = {"query": query, "variables": variables, "extensions": {"trace": True}}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(mesh.url, json=payload)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _calls(mesh: InProcessMesh) -> dict[str, float]:
    """Query calls made so far, per database (the fetch latency histogram's counts)."""
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(mesh.url.replace("/graphql", "/metrics"))).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["dbmesh_fetch_seconds"].samples
    return {s.labels["database"]: s.value for s in samples if s.name.endswith("_count")}


async def test_nested_is_one_call_per_database_and_three_statements(demo_mesh: InProcessMesh) -> None:
    before = await _calls(demo_mesh)
    body = await _post(demo_mesh, NESTED, {"id": C1, "n": 2})
    after = await _calls(demo_mesh)
    calls = {db: after[db] - before.get(db, 0.0) for db in after if after[db] != before.get(db, 0.0)}
    assert calls == {"postgres_primary": 1, "mysql_historical": 1}
    trace = body["extensions"]["trace"]
    assert [(r["database"], r["fetch"]) for r in trace["routes"]] == [
        ("postgres_primary", 1),
        ("mysql_historical", 2),
        ("mysql_historical", 3),
    ]
    assert trace["plan"]["fetches"] == 3
    orders = body["data"]["customer"]["allOrders"]
    assert orders and all(0 < len(order["items"]) <= 2 for order in orders)
    assert "errors" not in body


async def test_nested_data_equals_what_the_database_holds(demo_mesh: InProcessMesh) -> None:
    chained = (await _post(demo_mesh, NESTED, {"id": C1, "n": 2}))["data"]["customer"]["allOrders"]
    # The same levels read straight from the database file, one statement per order.
    with contextlib.closing(sqlite3.connect(demo_mesh.databases["mysql_historical"]["path"])) as db:
        orders = db.execute("SELECT id FROM orders WHERE customer_id = ? ORDER BY order_date DESC, id", (C1,))
        expected = [
            {
                "id": order_id,
                "items": [
                    {"quantity": quantity, "price": Decimal(str(price))}
                    for quantity, price in db.execute(
                        "SELECT quantity, price FROM order_items WHERE order_id = ?"
                        " ORDER BY order_id, product_id LIMIT 2",
                        (order_id,),
                    )
                ],
            }
            for (order_id,) in orders.fetchall()
        ]
    got = [
        {"id": o["id"], "items": [{"quantity": i["quantity"], "price": Decimal(i["price"])} for i in o["items"]]}
        for o in chained
    ]
    assert got == expected and len(expected) > 1


async def test_a_nested_relation_with_a_bad_argument_fails_alone(demo_mesh: InProcessMesh) -> None:
    body = await _post(demo_mesh, NESTED, {"id": C1, "n": -1})
    orders = body["data"]["customer"]["allOrders"]
    assert orders and all(order["items"] is None for order in orders)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "limit must not be negative" in error["message"]
    assert error["path"][:3] == ["customer", "allOrders", 0] and error["path"][-1] == "items"
