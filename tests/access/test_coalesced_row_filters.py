"""Row filters in shared calls (router.coalescing, docs/reference.md §7, §14): requests of two
tenants made in one turn share a resolver call, their filters' values each a variable set of
it, and each tenant still gets only its own rows."""

from __future__ import annotations

from access_data import token
from harness.mesh import InProcessMesh, post_together

A = token(tenant="a")
B = token(tenant="b")


def shared_calls(mesh: InProcessMesh) -> float:
    registry = mesh.router.metrics.registry
    return sum(
        registry.get_sample_value("dbmesh_coalesced_calls_total", {"database": d}) or 0.0 for d in mesh.databases
    )


async def test_two_tenants_in_one_turn_see_only_their_own_rows(secured: InProcessMesh) -> None:
    customers = {"query": "{ customers { id tenant } }"}
    orders = {"query": "{ orders(orderBy: [{id: ASC}]) { id tenant } }"}
    tokens = [A, B, B, A, A, B]
    before = shared_calls(secured)
    bodies = await post_together(secured.url, [customers] * 6 + [orders] * 6, tokens * 2)
    mine = {"a": [{"id": "c1", "tenant": "a"}], "b": [{"id": "c2", "tenant": "b"}]}
    tenant = {A: "a", B: "b"}
    assert bodies[:6] == [{"data": {"customers": mine[tenant[t]]}} for t in tokens]
    their_orders = {
        "a": [{"id": 1, "tenant": "a"}, {"id": 4, "tenant": "a"}],
        "b": [{"id": 2, "tenant": "b"}, {"id": 3, "tenant": "b"}],
    }
    assert bodies[6:] == [{"data": {"orders": their_orders[tenant[t]]}} for t in tokens]
    assert shared_calls(secured) > before


async def test_a_point_request_of_each_tenant_in_one_turn(secured: InProcessMesh) -> None:
    # A asks for B's customer and B for A's: neither is found on `shop`, nor on the cache.
    query = "query Q($id: String!) { customer(id: $id) { id tenant } }"
    payloads = [{"query": query, "variables": {"id": i}} for i in ("c1", "c2", "c2", "c1")] * 2
    before = shared_calls(secured)
    bodies = await post_together(secured.url, payloads, [A, B, A, B] * 2)
    assert (
        bodies
        == [
            {"data": {"customer": {"id": "c1", "tenant": "a"}}},
            {"data": {"customer": {"id": "c2", "tenant": "b"}}},
            {"data": {"customer": None}},
            {"data": {"customer": None}},
        ]
        * 2
    )
    assert shared_calls(secured) > before
