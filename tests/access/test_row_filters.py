"""A role reaches only its rows, however it asks (docs/reference.md §14): root field, relation
from another database (PostgreSQL -> MariaDB and back), batched join, fallback, not-found
fallback, aliases, fragments, variables; and the admin role sees everything. Each test names the
rows of the other tenant that must not appear."""

from __future__ import annotations

from typing import Any

from access_data import token
from harness.mesh import InProcessMesh

A = token(tenant="a")
B = token(tenant="b")
ADMIN = token(role="admin", tenant=None)


async def test_root_field_returns_only_the_tenants_rows(secured: InProcessMesh) -> None:
    body = await secured.post("{ customers { id name tenant } }", token=A)
    assert body == {"data": {"customers": [{"id": "c1", "name": "Ann", "tenant": "a"}]}}
    body = await secured.post("{ orders(orderBy: [{id: ASC}]) { id tenant } }", token=B)
    assert body == {"data": {"orders": [{"id": 2, "tenant": "b"}, {"id": 3, "tenant": "b"}]}}


async def test_the_admin_role_sees_every_row(secured: InProcessMesh) -> None:
    body = await secured.post("{ customers(orderBy: [{id: ASC}]) { id email } }", token=ADMIN)
    assert body["data"]["customers"] == [{"id": "c1", "email": "ann@a.example"}, {"id": "c2", "email": "bob@b.example"}]


async def test_a_user_where_cannot_widen_the_filter(secured: InProcessMesh) -> None:
    query = '{ customers(where: {_or: [{tenant: {_eq: "b"}}, {id: {_eq: "c2"}}]}) { id } }'
    assert await secured.post(query, token=A) == {"data": {"customers": []}}


async def test_relation_from_another_database_is_filtered(secured: InProcessMesh) -> None:
    # c1 (PostgreSQL) has orders 1, 3 and 4 on MariaDB; order 3 is tenant b's.
    body = await secured.post("{ customers { id orders(orderBy: [{id: ASC}]) { id tenant } } }", token=A)
    assert body == {
        "data": {"customers": [{"id": "c1", "orders": [{"id": 1, "tenant": "a"}, {"id": 4, "tenant": "a"}]}]}
    }


async def test_relation_back_to_a_hidden_row_is_null(secured: InProcessMesh) -> None:
    # Order 3 (tenant b) belongs to c1 (tenant a): B sees the order but not its customer.
    body = await secured.post("{ orders(orderBy: [{id: ASC}]) { id customer { id } } }", token=B)
    assert body == {"data": {"orders": [{"id": 2, "customer": {"id": "c2"}}, {"id": 3, "customer": None}]}}


async def test_batched_join_carries_the_filter_to_mariadb(secured: InProcessMesh) -> None:
    body = await secured.post("{ customers { orders { id } } }", token=A, extensions={"trace": True})
    assert "extensions" not in body  # a customer is not privileged: no trace
    admin = await secured.post("{ customers { orders { id } } }", token=ADMIN, extensions={"trace": True})
    history = [r for r in admin["extensions"]["trace"]["routes"] if r["database"] == "history"]
    assert len(history) == 1  # one batched call for every customer
    assert "tenant" not in history[0]["query"]  # the admin's request carries no row filter


async def test_a_nested_relation_carries_the_filter_in_the_same_call(secured: InProcessMesh) -> None:
    # orders -> siblings is one call to MariaDB (the siblings nested in the orders' request); the
    # filter holds at both levels: B sees order 3 (tenant b) but not its c1 siblings 1 and 4 (tenant a).
    query = "{ orders { id siblings { id } } }"
    body = await secured.post(query, token=B)
    assert body == {"data": {"orders": [{"id": 2, "siblings": [{"id": 2}]}, {"id": 3, "siblings": [{"id": 3}]}]}}
    admin = await secured.post(query, token=ADMIN, extensions={"trace": True})
    siblings = {o["id"]: [s["id"] for s in o["siblings"]] for o in admin["data"]["orders"]}
    assert siblings == {1: [1, 3, 4], 2: [2], 3: [1, 3, 4], 4: [1, 3, 4]}
    routes = admin["extensions"]["trace"]["routes"]
    assert [(r["database"], r["fetch"]) for r in routes] == [("history", 1), ("history", 2)]


async def test_aliases_fragments_and_variables_get_the_same_rows(secured: InProcessMesh) -> None:
    query = """
      query Q($id: String!, $where: CustomerWhere) {
        mine: customers { ...C }
        other: customer(id: $id) { ...C }
        wide: customers(where: $where) { ...C }
      }
      fragment C on Customer { id tenant }
    """
    body = await secured.post(query, {"id": "c2", "where": {"tenant": {"_eq": "b"}}}, token=A)
    assert body == {"data": {"mine": [{"id": "c1", "tenant": "a"}], "other": None, "wide": []}}


async def test_not_found_fallback_is_filtered_too(secured: InProcessMesh) -> None:
    # c3 exists only in the SQLite cache: the not-found fallback reaches it, but for tenant b only.
    assert await secured.post('{ customer(id: "c3") { id } }', token=A) == {"data": {"customer": None}}
    assert await secured.post('{ customer(id: "c3") { id } }', token=B) == {"data": {"customer": {"id": "c3"}}}


async def test_a_token_without_the_filters_claim_matches_nothing(secured: InProcessMesh) -> None:
    assert await secured.post("{ customers { id } }", token=token(tenant=None)) == {"data": {"customers": []}}


async def test_same_query_two_roles_never_share_a_plan(secured: InProcessMesh) -> None:
    query = "{ customers { id name } }"
    for _ in range(2):  # the second round is served from each role's plan cache
        assert await secured.post(query, token=A) == {"data": {"customers": [{"id": "c1", "name": "Ann"}]}}
        assert await secured.post(query, token=B) == {"data": {"customers": [{"id": "c2", "name": "Bob"}]}}
        admin = await secured.post(query, token=ADMIN)
        assert [c["id"] for c in admin["data"]["customers"]] == ["c1", "c2"]
    anonymous = await secured.post("{ customers { name } }")
    assert anonymous == {"data": {"customers": []}}
    router = secured.router
    assert router.views["customer"].preparation is not router.views[""].preparation
    assert router.views["customer"].preparation.cache_usage()["plans"][0] >= 1


def _names(body: dict[str, Any], kind: str) -> set[str]:
    return {
        t["name"] for t in body["data"]["__schema"]["types"] if t["kind"] == kind and not t["name"].startswith("__")
    }


async def test_introspection_shows_only_the_roles_schema(secured: InProcessMesh) -> None:
    query = '{ __schema { types { name kind } } __type(name: "Customer") { fields { name } } }'
    body = await secured.post(query, token=A)
    assert _names(body, "OBJECT") == {"Query", "Mutation", "Customer", "Order", "OrderMutationResult", "DatabaseStatus"}
    assert [f["name"] for f in body["data"]["__type"]["fields"]] == ["id", "name", "tenant", "orders"]
    query_type = await secured.post('{ __type(name: "Query") { fields { name } } }', token=A)
    assert [f["name"] for f in query_type["data"]["__type"]["fields"]] == [
        "customers",
        "customer",
        "orders",
        "databaseStatus",
    ]
    admin = await secured.post(query, token=ADMIN)
    assert "Secret" in _names(admin, "OBJECT")


async def test_hidden_types_columns_and_status_errors_are_validation_errors(secured: InProcessMesh) -> None:
    cases = {
        "{ secrets { note } }": "Cannot query field 'secrets' on type 'Query'.",
        "{ customers { email } }": "Cannot query field 'email' on type 'Customer'.",
        '{ customers(where: {email: {_eq: "ann@a.example"}}) { id } }': (
            "Expected value of type 'CustomerWhere' not to include unknown field 'email',"
            ' found: { email: { _eq: "ann@a.example" } }.'
        ),
        "{ databaseStatus { name error } }": "Cannot query field 'error' on type 'DatabaseStatus'.",
    }
    for query, message in cases.items():
        body = await secured.post(query, token=A)
        assert [e["message"] for e in body["errors"]] == [message], query
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    auditor = token(role="auditor", tenant=None, tenants=["a"])  # privileged: sees probe errors
    status = await secured.post("{ databaseStatus { name error } }", token=auditor)
    assert sorted(s["name"] for s in status["data"]["databaseStatus"]) == ["cache", "history", "shop"]


async def test_per_role_limits(secured: InProcessMesh) -> None:
    body = await secured.post("{ customers(limit: 101) { id } }", token=A)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "100" in body["errors"][0]["message"]
    admin = await secured.post("{ customers(limit: 101) { id } }", token=ADMIN)
    assert "errors" not in admin


async def test_claims_are_bound_values_never_sql_text(secured: InProcessMesh) -> None:
    """A privileged role sees its trace: the filter is a placeholder on every database, the
    claim's text is nowhere in the SQL, and a nested relation is still one batched call."""
    hostile = "a' OR '1'='1"
    auditor = token(role="auditor", tenant=None, tenants=["a", hostile])
    query = "{ customers { id orders { id tenant } } }"
    body = await secured.post(query, token=auditor, extensions={"trace": True})
    assert body["data"] == {"customers": [{"id": "c1", "orders": [{"id": 1, "tenant": "a"}, {"id": 4, "tenant": "a"}]}]}
    routes = body["extensions"]["trace"]["routes"]
    assert [r["database"] for r in routes] == ["shop", "history"]
    for route in routes:
        assert "tenant" in route["query"]
        assert hostile not in route["query"] and "'a'" not in route["query"]


async def test_fallback_after_an_outage_is_filtered(secured: InProcessMesh) -> None:
    await secured.stop_resolver("shop")
    try:
        body = await secured.post("{ customers(orderBy: [{id: ASC}]) { id } }", token=B)
        assert body == {"data": {"customers": [{"id": "c2"}, {"id": "c3"}]}}
        body = await secured.post("{ orders(where: {id: {_eq: 1}}) { customer { id } } }", token=A)
        assert body == {"data": {"orders": [{"customer": {"id": "c1"}}]}}
    finally:
        await secured.start_resolver("shop")  # last: shop's breaker may stay open a while
