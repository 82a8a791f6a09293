"""Limits on the rows a request may fetch, on a real router over the demo's SQLite databases
through real resolvers and real HTTP (docs/reference.md §14): `max_limit`, `default_limit`, the
estimated cost against `max_cost` (before any fetch), and `max_response_rows` /
`max_response_bytes` while fetching. Each limit at its value (served) and one past it (refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from harness.demo import demo_databases, prepare_demo
from harness.mesh import InProcessMesh

from dbmesh.demo import customer_id


async def _start(factory: pytest.TempPathFactory, settings: dict[str, Any]) -> InProcessMesh:
    data = factory.mktemp("demo")
    schema = prepare_demo(data)
    return await InProcessMesh(demo_databases(data), schema, router_settings=settings).start()


@pytest.fixture(scope="module")
async def costly(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    mesh = await _start(tmp_path_factory, {"max_limit": 100, "max_cost": 1000})
    yield mesh
    await mesh.stop()


@pytest.fixture(scope="module")
async def defaulted(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    mesh = await _start(tmp_path_factory, {"default_limit": 2})
    yield mesh
    await mesh.stop()


@pytest.fixture(scope="module")
async def few_rows(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    mesh = await _start(tmp_path_factory, {"max_response_rows": 20})
    yield mesh
    await mesh.stop()


@pytest.fixture(scope="module")
async def few_bytes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    mesh = await _start(tmp_path_factory, {"max_response_bytes": 1024})
    yield mesh
    await mesh.stop()


def _refused(body: dict[str, Any], code: str, message: str) -> None:
    assert body == {"errors": [{"message": message, "extensions": {"code": code}}]}


# --- max_limit ------------------------------------------------------------------------------------


async def test_the_hostile_nested_query_is_refused_before_any_fetch(demo_mesh: InProcessMesh) -> None:
    """The 261 MB response of the hardening issue, with the default limits."""
    query = """{ customers { allOrders(limit: 1000000) { customer { allOrders(limit: 1000000) {
        customer { allOrders(limit: 1000000) { id } } } } } } }"""
    body = await demo_mesh.post(query)
    _refused(body, "BAD_USER_INPUT", "customers.allOrders: limit must be at most 10000 (got 1000000)")
    hop = "allOrders { customer { %s } }"
    unbounded = "{ customers { " + hop % (hop % (hop % (hop % "allOrders { id }"))) + " } }"
    body = await demo_mesh.post(unbounded)
    # customers' schema default is 50; 10 rows assumed per parent row of an unbounded relation list
    cost = 50 + 2 * sum(50 * 10**level for level in range(1, 5)) + 50 * 10**5
    _refused(
        body, "QUERY_TOO_COMPLEX", f"Query is too complex: estimated cost {cost} rows exceeds the maximum of 1000000."
    )


async def test_max_limit_literal(costly: InProcessMesh) -> None:
    body = await costly.post("{ orders(limit: 100) { id } }")
    assert "errors" not in body and len(body["data"]["orders"]) == 100
    body = await costly.post("{ orders(limit: 101) { id } }")
    _refused(body, "BAD_USER_INPUT", "orders: limit must be at most 100 (got 101)")


async def test_max_limit_from_a_variable_of_a_relation(costly: InProcessMesh) -> None:
    query = "query($n: Int) { customers(limit: 1) { allOrders(limit: $n) { id } } }"
    body = await costly.post(query, {"n": 100})
    assert "errors" not in body and body["data"]["customers"][0]["allOrders"]
    body = await costly.post(query, {"n": 101})
    _refused(body, "BAD_USER_INPUT", "customers.allOrders: limit must be at most 100 (got 101)")


# --- max_cost -------------------------------------------------------------------------------------


async def test_max_cost_counts_rows_per_parent_row(costly: InProcessMesh) -> None:
    query = "query($n: Int) { customers(limit: 10) { allOrders(limit: $n) { id customer { id } } } }"
    # 10 customers + 10 * 49 orders + 10 * 49 customers (one per order) = 990; with 50: 1010
    body = await costly.post(query, {"n": 49})
    assert "errors" not in body and len(body["data"]["customers"]) == 10
    body = await costly.post(query, {"n": 50})
    _refused(body, "QUERY_TOO_COMPLEX", "Query is too complex: estimated cost 1010 rows exceeds the maximum of 1000.")


async def test_max_cost_at_the_limit_is_served(costly: InProcessMesh) -> None:
    body = await costly.post("{ customers(limit: 10) { allOrders(limit: 99) { id } } }")  # 10 + 990
    assert "errors" not in body and len(body["data"]["customers"]) == 10


async def test_an_unbounded_relation_list_is_assumed_to_fetch_10_rows_per_parent(costly: InProcessMesh) -> None:
    body = await costly.post('{ customer(id: "%s") { allOrders { items { quantity } } } }' % customer_id(1))
    assert "errors" not in body  # 1 + 10 + 10 * 10 = 111
    body = await costly.post("{ customers(limit: 90) { allOrders { id } } }")  # 90 + 90 * 10 = 990
    assert "errors" not in body and len(body["data"]["customers"]) == 50  # the demo has 50
    body = await costly.post("{ customers(limit: 91) { allOrders { id } } }")
    _refused(body, "QUERY_TOO_COMPLEX", "Query is too complex: estimated cost 1001 rows exceeds the maximum of 1000.")
    body = await costly.post("{ orders { id } }")  # 100 assumed, and no default_limit: every row comes
    assert "errors" not in body and len(body["data"]["orders"]) == 188


# --- default_limit --------------------------------------------------------------------------------


async def test_default_limit_applies_to_lists_given_no_limit_or_null(defaulted: InProcessMesh) -> None:
    body = await defaulted.post("{ orders { id } }")
    assert len(body["data"]["orders"]) == 2
    body = await defaulted.post("query($n: Int) { orders(limit: $n) { id } }", {"n": None})
    assert len(body["data"]["orders"]) == 2
    body = await defaulted.post("{ orders(limit: 5) { id } }")
    assert len(body["data"]["orders"]) == 5
    body = await defaulted.post("{ customers(limit: 10) { allOrders { id } } }")
    counts = [len(c["allOrders"]) for c in body["data"]["customers"]]
    assert max(counts) == 2 and len(counts) == 10
    body = await defaulted.post("{ customers { id } }")  # the schema's own default (50) is a limit given
    assert len(body["data"]["customers"]) == 50


# --- max_response_rows / max_response_bytes -------------------------------------------------------


async def test_max_response_rows(few_rows: InProcessMesh) -> None:
    body = await few_rows.post("{ customers(limit: 20) { id } }")
    assert "errors" not in body and len(body["data"]["customers"]) == 20
    body = await few_rows.post("{\n  customers(limit: 21) { id }\n}")
    assert body == {
        "errors": [
            {
                "message": "Response is too large: more than 20 rows fetched.",
                "locations": [{"line": 2, "column": 3}],
                "path": ["customers"],
                "extensions": {"code": "QUERY_TOO_COMPLEX"},
            }
        ],
        "data": {"customers": None},
    }


async def test_past_max_response_rows_what_was_fetched_is_kept(few_rows: InProcessMesh) -> None:
    body = await few_rows.post("{ customers(limit: 15) { id allOrders(limit: 1) { id } } }")
    assert [e["message"] for e in body["errors"]] == ["Response is too large: more than 20 rows fetched."]
    assert body["errors"][0]["path"][-1] == "allOrders"
    customers = body["data"]["customers"]
    assert len(customers) == 15 and all(c["id"] and c["allOrders"] is None for c in customers)


async def test_max_response_bytes(few_bytes: InProcessMesh, demo_mesh: InProcessMesh) -> None:
    # The rows' JSON as the resolver sends it: [[email, name], ...] for `{ email name }`.
    everyone = (await demo_mesh.post("{ customers { email name } }"))["data"]["customers"]
    sizes = [len(orjson.dumps([[c["email"], c["name"]] for c in everyone[:n]])) for n in range(1, 51)]
    fits = max(n for n, size in enumerate(sizes, start=1) if size <= 1024)
    body = await few_bytes.post("{ customers(limit: %d) { email name } }" % fits)
    assert "errors" not in body and body["data"]["customers"] == everyone[:fits]
    body = await few_bytes.post("{ customers(limit: %d) { email name } }" % (fits + 1))
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        ("Response is too large: more than 1024 bytes fetched.", "QUERY_TOO_COMPLEX")
    ]
    assert body["data"] == {"customers": None}
