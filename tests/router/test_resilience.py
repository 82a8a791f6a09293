"""Fallback, partial results, the circuit breaker and recovery (docs/reference.md §5, §7), with real resolvers
stopped and started again behind a running router. Counts, never timings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from harness.demo import CACHE_ONLY_ID, demo_databases, prepare_demo
from harness.mesh import InProcessMesh
from prometheus_client.parser import text_string_to_metric_families

from dbmesh.demo import customer_id

C1 = customer_id(1)


@pytest.fixture
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    data = tmp_path_factory.mktemp("demo")
    schema = prepare_demo(data)
    mesh = await InProcessMesh(demo_databases(data), schema, {"breaker_failures": 3, "breaker_reset_secs": 60}).start()
    yield mesh
    await mesh.stop()


async def _traced(mesh: InProcessMesh, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return await mesh.post(query, variables, extensions={"trace": True})


async def _metric(mesh: InProcessMesh, name: str, **labels: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(mesh.url.replace("/graphql", "/metrics"))).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def _until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


async def test_fallback_to_cache_when_primary_is_down(mesh: InProcessMesh) -> None:
    await mesh.stop_resolver("postgres_primary")
    body = await _traced(mesh, "{ customers(limit: 3) { id name sourceDatabase } }")
    assert "errors" not in body
    rows = body["data"]["customers"]
    assert len(rows) == 3 and {r["sourceDatabase"] for r in rows} == {"sqlite_cache"}
    routes = body["extensions"]["trace"]["routes"]
    assert [(r["database"], r["fallback_from"]) for r in routes] == [("sqlite_cache", "postgres_primary")]
    failures = body["extensions"]["trace"]["failures"]
    assert [(f["database"], f["code"]) for f in failures] == [("postgres_primary", "DATABASE_UNAVAILABLE")]
    assert (
        await _metric(mesh, "dbmesh_fallbacks_total", from_database="postgres_primary", to_database="sqlite_cache") == 1
    )


async def test_partial_results_null_only_what_the_failed_database_serves(mesh: InProcessMesh) -> None:
    await mesh.stop_resolver("mysql_historical")
    body = await mesh.post("{ customers(limit: 4) { id allOrders { id } details { phone } } }")
    customers = body["data"]["customers"]
    assert len(customers) == 4
    assert all(c["allOrders"] is None for c in customers)
    assert any(c["details"] is not None for c in customers)  # the primary still answers
    assert len(body["errors"]) == 1  # one error per failed fetch, not one per customer
    error = body["errors"][0]
    assert error["path"] == ["customers", 0, "allOrders"]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert error["extensions"]["database"] == "mysql_historical"
    assert "locations" in error


async def test_readiness_follows_databases_without_a_fallback(mesh: InProcessMesh) -> None:
    async def ready() -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(mesh.url.replace("/graphql", "/readyz"))).status_code

    assert await ready() == 200
    await mesh.stop_resolver("sqlite_cache")  # only a fallback: still ready
    await mesh.router_probe()
    assert await ready() == 200
    await mesh.stop_resolver("mysql_historical")  # serves allOrders with no fallback
    await mesh.router_probe()
    assert await ready() == 503


async def test_circuit_opens_after_repeated_failures_and_probes_close_it(mesh: InProcessMesh) -> None:
    query = '{ customer(id: "%s") { name allOrders { id } } }' % C1
    await mesh.stop_resolver("mysql_historical")
    for _ in range(3):
        body = await _traced(mesh, query)
        assert body["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    attempts = await _metric(
        mesh, "dbmesh_fetch_errors_total", database="mysql_historical", code="DATABASE_UNAVAILABLE"
    )
    assert attempts == 3
    status = await mesh.post("{ databaseStatus { name circuit } }")
    assert {"name": "mysql_historical", "circuit": "open"} in status["data"]["databaseStatus"]
    for _ in range(5):  # while open: no call reaches the resolver, the failure is immediate
        body = await _traced(mesh, query)
        assert body["data"]["customer"]["name"] == "Grace Lovelace"
        assert "circuit open" in body["errors"][0]["message"]
        assert all(r["database"] != "mysql_historical" for r in body["extensions"]["trace"]["routes"])
    assert (
        await _metric(mesh, "dbmesh_fetch_errors_total", database="mysql_historical", code="DATABASE_UNAVAILABLE") == 3
    )
    assert await _metric(mesh, "dbmesh_fetch_errors_total", database="mysql_historical", code="circuit_open") == 5

    await mesh.start_resolver("mysql_historical")  # back: a probe closes the circuit, no restart needed

    async def closed() -> bool:
        body = await mesh.post("{ databaseStatus { name circuit connected } }")
        return {"name": "mysql_historical", "circuit": "closed", "connected": True} in body["data"]["databaseStatus"]

    await _until(closed)
    body = await _traced(mesh, query)
    assert "errors" not in body
    assert any(r["database"] == "mysql_historical" for r in body["extensions"]["trace"]["routes"])


async def test_fallback_on_not_found_reads_the_legacy_database(mesh: InProcessMesh) -> None:
    body = await _traced(mesh, "query($id: ID!) { customer(id: $id) { name sourceDatabase } }", {"id": CACHE_ONLY_ID})
    assert body["data"]["customer"] == {"name": "Only In Cache", "sourceDatabase": "sqlite_cache"}
    databases = [r["database"] for r in body["extensions"]["trace"]["routes"]]
    assert databases == ["postgres_primary", "sqlite_cache"]
    missing = await mesh.post('{ customer(id: "%s") { name } }' % customer_id(777))
    assert missing == {"data": {"customer": None}}


async def test_database_status_reports_every_database(mesh: InProcessMesh) -> None:
    body = await mesh.post("{ databaseStatus { name engine connected latency_ms last_check circuit error } }")
    statuses = body["data"]["databaseStatus"]
    assert [s["name"] for s in statuses] == ["postgres_primary", "mysql_historical", "sqlite_cache"]
    for s in statuses:
        assert s["engine"] == "sqlite" and s["connected"] is True and s["circuit"] == "closed"
        assert s["latency_ms"] > 0 and s["last_check"].endswith("Z") and s["error"] is None


async def test_nested_relation_falls_back_too(mesh: InProcessMesh) -> None:
    await mesh.stop_resolver("postgres_primary")
    body = await _traced(mesh, "{ orders(limit: 3) { id customer { name sourceDatabase } } }")
    orders = body["data"]["orders"]
    assert len(orders) == 3 and "errors" not in body
    served = {o["customer"]["sourceDatabase"] for o in orders if o["customer"]}
    assert served == {"sqlite_cache"}
    join = [r for r in body["extensions"]["trace"]["routes"] if r["database"] == "sqlite_cache"]
    assert len(join) == 1 and join[0]["fallback_from"] == "postgres_primary"
