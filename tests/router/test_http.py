"""The HTTP endpoint per GraphQL-over-HTTP and docs/reference.md §5: methods, media types, status codes, error
codes (each bad input gets its exact error), GraphiQL, health, readiness, metrics, tracing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from harness.mesh import InProcessMesh
from prometheus_client.parser import text_string_to_metric_families

from dbmesh.demo import customer_id

C1 = customer_id(1)
GRAPHQL_RESPONSE = "application/graphql-response+json"


async def _post(mesh: InProcessMesh, payload: Any, accept: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"accept": accept} if accept else {}
    async with httpx.AsyncClient(timeout=30) as client:
        if isinstance(payload, (bytes, str)):
            return await client.post(
                mesh.url, content=payload, headers={"content-type": "application/json", **headers}, **kw
            )
        return await client.post(mesh.url, json=payload, headers=headers, **kw)


async def _get(mesh: InProcessMesh, path: str = "", **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(mesh.url.replace("/graphql", path) if path else mesh.url, **kw)


async def test_post_and_get_return_the_same_data(demo_mesh: InProcessMesh) -> None:
    query = '{ customer(id: "%s") { name } }' % C1
    posted = await _post(demo_mesh, {"query": query})
    got = await _get(demo_mesh, params={"query": query})
    assert posted.status_code == got.status_code == 200
    assert posted.json() == got.json() == {"data": {"customer": {"name": "Grace Lovelace"}}}
    assert posted.headers["content-type"].startswith("application/json")


async def test_graphql_response_media_type_is_honoured(demo_mesh: InProcessMesh) -> None:
    response = await _post(demo_mesh, {"query": "{ __typename }"}, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("{ customers { id ", "GRAPHQL_PARSE_FAILED", "Syntax Error: Expected Name, found <EOF>."),
        (
            "{ customers { nope } }",
            "GRAPHQL_VALIDATION_FAILED",
            "Cannot query field 'nope' on type 'Customer'. Did you mean 'name'?",
        ),
        (
            "{ customer { id } }",
            "GRAPHQL_VALIDATION_FAILED",
            "Argument 'Query.customer(id:)' of type 'ID!' is required, but it was not provided.",
        ),
        ("mutation { x }", "GRAPHQL_VALIDATION_FAILED", "The mutation operation is not supported by the schema."),
    ],
)
async def test_request_errors_have_no_data_and_a_code(
    demo_mesh: InProcessMesh, query: str, code: str, message: str
) -> None:
    as_json = await _post(demo_mesh, {"query": query})
    strict = await _post(demo_mesh, {"query": query}, accept=GRAPHQL_RESPONSE)
    assert as_json.status_code == 200  # application/json: 200 for every well-formed request
    assert strict.status_code == 400  # graphql-response+json: request errors are 4xx
    for response in (as_json, strict):
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["message"] == message
        assert body["errors"][0]["extensions"] == {"code": code}
        assert "locations" in body["errors"][0]


async def test_bad_variables_are_bad_user_input(demo_mesh: InProcessMesh) -> None:
    body = (
        await _post(demo_mesh, {"query": "query($n: Int!) { customers(limit: $n) { id } }", "variables": {"n": "ten"}})
    ).json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (
        body["errors"][0]["message"] == "Variable '$n' has invalid value: Int cannot represent non-integer value: 'ten'"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ customers(limit: -1) { id } }", "customers: limit must not be negative (got -1)"),
        (
            "{ customers(orderBy: [{name: ASC, email: DESC}]) { id } }",
            "customers: orderBy[0] must name exactly one field (got name, email)",
        ),
        (
            "{ customers { allOrders(where: {totalAmount: {_gt: null}}) { id } } }",
            "customers.allOrders: where.totalAmount._gt cannot be null",
        ),
    ],
)
async def test_bad_arguments_null_the_field_with_bad_user_input(
    demo_mesh: InProcessMesh, query: str, message: str
) -> None:
    body = (await _post(demo_mesh, {"query": query})).json()
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" in body


async def test_a_bad_decimal_literal_is_a_validation_error(demo_mesh: InProcessMesh) -> None:
    body = (await _post(demo_mesh, {"query": '{ orders(where: {totalAmount: {_gt: "ten"}}) { id } }'})).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Decimal cannot represent 'ten'" in body["errors"][0]["message"]


async def test_max_depth_counts_every_level(demo_mesh: InProcessMesh) -> None:
    def nested(levels: int) -> str:
        # customers(1) allOrders(2) customer(3) allOrders(4) ... then a leaf field
        fields = ["customers(limit: 1)"] + ["allOrders(limit: 1)", "customer"] * 10
        body = "id"
        for name in reversed(fields[: levels - 1]):
            body = f"{name} {{ {body} }}"
        return "{ " + body + " }"

    deep = nested(16)
    body = (await _post(demo_mesh, {"query": deep}, accept=GRAPHQL_RESPONSE)).json()
    assert body == {
        "errors": [
            {
                "message": "Query is too deep: depth 16 exceeds the maximum of 15.",
                "extensions": {"code": "QUERY_TOO_DEEP"},
            }
        ]
    }
    ok = (await _post(demo_mesh, {"query": nested(15)})).json()
    assert "errors" not in ok


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (b"{not json", 400, "the request body is not valid JSON"),
        (b"[1, 2]", 400, "the request body must be a JSON object"),
        (b'{"variables": {}}', 400, "the request must have a 'query' string"),
        (b'{"query": "{ __typename }", "variables": [1]}', 400, "'variables' must be a JSON object"),
        (b'{"query": "{ __typename }", "operationName": 3}', 400, "'operationName' must be a string"),
        (b'{"query": "{ __typename }", "extensions": "x"}', 400, "'extensions' must be a JSON object"),
    ],
)
async def test_malformed_requests(demo_mesh: InProcessMesh, payload: bytes, status: int, message: str) -> None:
    response = await _post(demo_mesh, payload)
    assert response.status_code == status
    assert response.json()["errors"][0]["message"] == message


async def test_wrong_content_type_and_accept(demo_mesh: InProcessMesh) -> None:
    async with httpx.AsyncClient() as client:
        form = await client.post(demo_mesh.url, content="query={__typename}", headers={"content-type": "text/plain"})
        assert form.status_code == 415
        refused = await client.post(demo_mesh.url, json={"query": "{ __typename }"}, headers={"accept": "text/csv"})
        assert refused.status_code == 406


async def test_unknown_operation_name(demo_mesh: InProcessMesh) -> None:
    body = (
        await _post(demo_mesh, {"query": "query A { __typename } query B { __typename }", "operationName": "C"})
    ).json()
    assert body["errors"][0] == {"message": "Unknown operation named 'C'.", "extensions": {"code": "BAD_USER_INPUT"}}
    two = (
        await _post(demo_mesh, {"query": "query A { __typename } query B { __typename }", "operationName": "B"})
    ).json()
    assert two == {"data": {"__typename": "Query"}}


async def test_mutation_over_get_is_refused(demo_mesh: InProcessMesh) -> None:
    response = await _get(demo_mesh, params={"query": "mutation { x }"})
    assert response.status_code == 405


async def test_graphiql_for_browsers(demo_mesh: InProcessMesh) -> None:
    response = await _get(demo_mesh, headers={"accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert "unpkg.com" not in response.text  # the IDE works without internet access
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"):
        served = await _get(demo_mesh, f"/_dbmesh/static/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000, asset


async def test_health_readiness_and_metrics(demo_mesh: InProcessMesh) -> None:
    alive = (await _get(demo_mesh, "/healthz")).json()
    assert alive["status"] == "ok"
    assert {state["connected"] for state in alive["databases"].values()} == {True} and len(alive["databases"]) == 3
    ready = await _get(demo_mesh, "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    await _post(demo_mesh, {"query": '{ customer(id: "%s") { allOrders { id } } }' % C1})
    text = (await _get(demo_mesh, "/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {s.labels["outcome"]: s.value for s in families["dbmesh_requests"].samples if s.name.endswith("_total")}
    assert requests["ok"] >= 1
    fetched = {s.labels["database"] for s in families["dbmesh_fetch_seconds"].samples if s.name.endswith("_count")}
    assert {"postgres_primary", "mysql_historical"} <= fetched
    up = {s.labels["database"]: s.value for s in families["dbmesh_database_up"].samples}
    assert up == {"postgres_primary": 1.0, "mysql_historical": 1.0, "sqlite_cache": 1.0}
    circuits = {s.labels["database"]: s.value for s in families["dbmesh_circuit_state"].samples}
    assert set(circuits.values()) == {0.0}
    assert {s.labels["database"] for s in families["dbmesh_pool_size"].samples} == {
        "postgres_primary",
        "mysql_historical",
        "sqlite_cache",
    }


async def test_trace_shows_routes_sql_and_plan(demo_mesh: InProcessMesh) -> None:
    query = "query($id: ID!) { customer(id: $id) { name allOrders { id items { quantity } } } }"
    body = (await _post(demo_mesh, {"query": query, "variables": {"id": C1}, "extensions": {"trace": True}})).json()
    trace = body["extensions"]["trace"]
    assert trace["query"] == query
    assert [r["database"] for r in trace["routes"]] == ["postgres_primary", "mysql_historical", "mysql_historical"]
    assert all("?" in r["query"] and C1 not in r["query"] for r in trace["routes"])  # placeholders, never values
    assert all(isinstance(r["time_ms"], float) and isinstance(r["rows"], int) for r in trace["routes"])
    assert trace["plan"]["fetches"] == len(trace["routes"]) == 3
    assert json.dumps(trace["plan"])  # JSON all the way down
    untraced = (await _post(demo_mesh, {"query": query, "variables": {"id": C1}})).json()
    assert "extensions" not in untraced
