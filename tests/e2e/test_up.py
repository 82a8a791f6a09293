"""End to end through `dbmesh up` (real processes) over PostgreSQL, MariaDB and SQLite (docs/reference.md §2,
§4, §5, §9): the guide's queries, cross-database relations of every kind, composite types, paging
on relations, exact statement counts, and an off-the-shelf GraphQL client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e.federation import SCHEMA, Dataset, cid, federation_toml, load_mariadb, load_postgres, load_sqlite, oid
from gql import Client as GqlClient
from gql import GraphQLRequest, gql
from gql.transport.httpx import HTTPXAsyncTransport
from harness.mesh import UpProcess
from harness.servers import DatabaseInfo

from dbmesh import Client

DATA = Dataset(customers=1000)

GET_CUSTOMER_WITH_HISTORY = """
query GetCustomerWithHistory($customerId: ID!) {
  customer(id: $customerId) { id email name }
  historicalOrders(customerId: $customerId, year: 2023) { id orderDate totalAmount }
}
"""


@pytest.fixture(scope="module")
async def mesh(
    pg_module_database: DatabaseInfo, mysql_module_database: DatabaseInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[UpProcess]:
    folder = tmp_path_factory.mktemp("e2e")
    await load_postgres(pg_module_database, DATA)
    await load_mariadb(mysql_module_database, DATA)
    load_sqlite(folder / "cache.db", DATA, cached=100)
    config = folder / "dbmesh.toml"
    config.write_text(federation_toml(pg_module_database, mysql_module_database, folder / "cache.db"))
    up = await UpProcess(config, SCHEMA).start()
    yield up
    assert await up.stop() == 0


async def _query(up: UpProcess, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with Client(up.url) as client:
        result = await client.query(query, variables, trace=True)
    assert not result.errors, result.errors
    assert result.data is not None and result.meta.trace is not None
    return {"data": result.data, "trace": result.meta.trace}


async def test_guide_query_two_root_fields_on_two_databases(mesh: UpProcess) -> None:
    out = await _query(mesh, GET_CUSTOMER_WITH_HISTORY, {"customerId": cid(7)})
    assert out["data"]["customer"] == {"id": cid(7), "email": "c7@example.com", "name": "Customer 0007"}
    orders = out["data"]["historicalOrders"]
    assert [o["id"] for o in orders] == [oid(7, 1)]  # k=1 is the 2023 order
    assert orders[0]["orderDate"].startswith("2023-") and orders[0]["totalAmount"] == "8.15"
    databases = sorted(r["database"] for r in out["trace"]["routes"])
    assert databases == ["mysql_historical", "postgres_primary"]
    assert out["trace"]["plan"]["root"]["kind"] == "Parallel"  # the two fetches run concurrently


@pytest.mark.parametrize("count", [1, 10, 1000])
async def test_nested_relations_cost_one_statement_per_level(mesh: UpProcess, count: int) -> None:
    query = """query($n: Int!) { customers(limit: $n, orderBy: [{email: ASC}]) {
                 id allOrders { id items { quantity price } } } }"""
    out = await _query(mesh, query, {"n": count})
    customers = out["data"]["customers"]
    assert len(customers) == count
    assert all(len(c["allOrders"]) == 3 and all(len(o["items"]) == 2 for o in c["allOrders"]) for c in customers)
    routes = out["trace"]["routes"]
    assert len(routes) == 3  # customers, orders, order items: never one per row
    assert [r["rows"] for r in routes] == [count, 3 * count, 6 * count]
    assert out["trace"]["plan"]["fetches"] == 3


async def test_virtual_foreign_key_many_to_one_and_one_to_one(mesh: UpProcess) -> None:
    query = """{ customers(limit: 4, orderBy: [{email: ASC}]) {
        email details { phone } allOrders(limit: 1, orderBy: [{orderDate: DESC}]) { customer { email } } } }"""
    customers = (await _query(mesh, query))["data"]["customers"]
    for c in customers:
        assert c["allOrders"][0]["customer"]["email"] == c["email"]  # many-to-one back to PostgreSQL
    assert [c["details"] is None for c in customers] == [False, True, False, True][: len(customers)] or all(
        c["details"] is None or c["details"]["phone"].startswith("+1-555-") for c in customers
    )


async def test_where_order_and_paging_on_a_relation(mesh: UpProcess) -> None:
    query = """query($id: ID!) { customer(id: $id) {
        allOrders(where: {orderDate: {_gte: "2023-01-01"}}, orderBy: [{orderDate: DESC}], limit: 1, offset: 0) {
          id orderDate }
        historicalOrders(year: 2022) { id } } }"""
    data = (await _query(mesh, query, {"id": cid(12)}))["data"]["customer"]
    assert [o["id"] for o in data["allOrders"]] == [oid(12, 2)]  # 2024 first
    assert [o["id"] for o in data["historicalOrders"]] == [oid(12, 0)]


async def test_composite_type(mesh: UpProcess) -> None:
    query = "query($id: ID!) { customerWithHistory(id: $id) { id customer { name } orders { id } } }"
    data = (await _query(mesh, query, {"id": cid(3)}))["data"]["customerWithHistory"]
    assert data["customer"] == {"name": "Customer 0003"}
    assert sorted(o["id"] for o in data["orders"]) == [oid(3, k) for k in range(3)]


async def test_an_off_the_shelf_client_gets_the_same_answer(mesh: UpProcess) -> None:
    transport = HTTPXAsyncTransport(url=mesh.url)
    async with GqlClient(transport=transport, fetch_schema_from_transport=True) as session:
        request = GraphQLRequest(gql(GET_CUSTOMER_WITH_HISTORY), variable_values={"customerId": cid(7)})
        result = await session.execute(request)
    ours = await _query(mesh, GET_CUSTOMER_WITH_HISTORY, {"customerId": cid(7)})
    assert result == ours["data"]


async def test_readiness_and_status_over_real_servers(mesh: UpProcess) -> None:
    async with httpx.AsyncClient() as client:
        ready = await client.get(mesh.url.replace("/graphql", "/readyz"))
    assert ready.status_code == 200
    out = await _query(mesh, "{ databaseStatus { name engine connected } }")
    assert out["data"]["databaseStatus"] == [
        {"name": "postgres_primary", "engine": "postgresql", "connected": True},
        {"name": "mysql_historical", "engine": "mysql", "connected": True},
        {"name": "sqlite_cache", "engine": "sqlite", "connected": True},
    ]


def test_the_schema_is_the_deployed_one() -> None:
    assert Path(SCHEMA).is_file() and Path(SCHEMA).parent.name == "deploy"
