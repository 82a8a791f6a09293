"""Mutations inside a role's permissions (docs/reference.md §14): an update or delete reaches only
rows inside the role's filters (its own and its select filter), so `affectedRows` never counts
another tenant's rows; an insert whose row fails the role's `check` is rolled back; `returning`
and the relations it selects are filtered as any read. What each operation left is read from
MariaDB directly, not through dbmesh."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from access_data import ORDERS, mysql_run, reset_orders, token
from harness.mesh import InProcessMesh
from harness.servers import DatabaseInfo

A = token(tenant="a")
B = token(tenant="b")


@pytest.fixture
async def mesh(secured: InProcessMesh, mysql_module_database: DatabaseInfo) -> AsyncIterator[InProcessMesh]:
    await reset_orders(mysql_module_database)
    yield secured


async def _orders(info: DatabaseInfo) -> list[tuple[int, str, int, str]]:
    rows = await mysql_run(info, "SELECT id, customer_id, total, tenant FROM orders ORDER BY id")
    return [(int(r[0]), r[1], int(r[2]), r[3]) for r in rows]


async def test_update_counts_and_writes_only_the_tenants_rows(
    mesh: InProcessMesh, mysql_module_database: DatabaseInfo
) -> None:
    query = (
        "mutation { updateOrders(where: {id: {_in: [1, 2, 3]}}, set: {total: 99}) { affectedRows returning { id } } }"
    )
    body = await mesh.post(query, token=A)
    assert body == {"data": {"updateOrders": {"affectedRows": 1, "returning": [{"id": 1}]}}}
    assert await _orders(mysql_module_database) == [(1, "c1", 99, "a"), *ORDERS[1:]]


async def test_the_update_filter_holds_on_the_rows_before_the_update(mesh: InProcessMesh) -> None:
    query = "mutation { updateOrders(where: {id: {_eq: 4}}, set: {total: 2000}) { affectedRows } }"
    assert await mesh.post(query, token=A) == {"data": {"updateOrders": {"affectedRows": 1}}}
    # Now 2000: outside `total < 1000`, so the role cannot update it again.
    assert await mesh.post(query, token=A) == {"data": {"updateOrders": {"affectedRows": 0}}}


async def test_delete_through_a_variable_never_reaches_other_rows(
    mesh: InProcessMesh, mysql_module_database: DatabaseInfo
) -> None:
    query = "mutation D($where: OrderWhere!) { deleteOrders(where: $where) { affectedRows } }"
    body = await mesh.post(query, {"where": {"tenant": {"_eq": "b"}}}, token=A)
    assert body == {"data": {"deleteOrders": {"affectedRows": 0}}}
    body = await mesh.post(query, {"where": {"total": {"_gt": 0}}}, token=A)
    assert body == {"data": {"deleteOrders": {"affectedRows": 2}}}
    assert await _orders(mysql_module_database) == [ORDERS[1], ORDERS[2]]


async def test_an_insert_failing_the_check_writes_nothing(
    mesh: InProcessMesh, mysql_module_database: DatabaseInfo
) -> None:
    query = """mutation { insertOrders(objects: [{id: 10, customerId: "c1", total: 1, tenant: "a"},
                                               {id: 11, customerId: "c2", total: 1, tenant: "b"}]) { affectedRows } }"""
    body = await mesh.post(query, token=A)
    assert body["data"] == {"insertOrders": None}
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        (
            "insertOrders: a row fails the insert check of role 'customer' on Order; nothing was written",
            "BAD_USER_INPUT",
        )
    ]
    assert await _orders(mysql_module_database) == ORDERS
    ok = await mesh.post(query.replace('tenant: "b"', 'tenant: "a"'), token=A)
    assert ok == {"data": {"insertOrders": {"affectedRows": 2}}}
    assert [r[0] for r in await _orders(mysql_module_database)] == [1, 2, 3, 4, 10, 11]


async def test_returning_relations_are_filtered(mesh: InProcessMesh) -> None:
    # Order 3 is tenant b's but belongs to c1 (tenant a): B may update it, not see its customer.
    query = (
        "mutation { updateOrders(where: {id: {_in: [2, 3]}}, set: {total: 7}) { returning { id customer { id } } } }"
    )
    body = await mesh.post(query, token=B)
    returning = sorted(body["data"]["updateOrders"]["returning"], key=lambda r: r["id"])
    assert returning == [{"id": 2, "customer": {"id": "c2"}}, {"id": 3, "customer": None}]


async def test_writes_outside_the_granted_columns_and_upserts_are_validation_errors(mesh: InProcessMesh) -> None:
    cases = {
        'mutation { updateOrders(where: {id: {_eq: 1}}, set: {tenant: "b"}) { affectedRows } }': (
            "Expected value of type 'OrderSet' not to include unknown field 'tenant', found: { tenant: \"b\" }."
        ),
        "mutation { insertOrders(objects: [], onConflict: {columns: [id], update: [total]}) { affectedRows } }": (
            "Unknown argument 'onConflict' on field 'Mutation.insertOrders'."
        ),
    }
    for query, message in cases.items():
        body = await mesh.post(query, token=A)
        assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
            (message, "GRAPHQL_VALIDATION_FAILED")
        ], query
    anonymous = await mesh.post("mutation { deleteOrders(where: {id: {_eq: 1}}) { affectedRows } }")
    assert [e["message"] for e in anonymous["errors"]] == ["The mutation operation is not supported by the schema."]
