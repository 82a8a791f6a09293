"""OpenTelemetry traces through `dbmesh up` (real router and resolver processes) over PostgreSQL and
MariaDB, exported to a real OTLP receiver (docs/reference.md §15): one trace per request across the
processes, the request span the parent of its fetch spans and each fetch span the parent of its
resolver's statement spans, with names and counts but never values."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from e2e.federation import SCHEMA, Dataset, cid, federation_toml, load_mariadb, load_postgres, load_sqlite
from harness.mesh import UpProcess
from harness.servers import DatabaseInfo
from telemetry.collector import FAST_EXPORT, Collector, Received

DATA = Dataset(customers=20)
NESTED = "query Nested($id: ID!) { customer(id: $id) { email allOrders { id items { quantity } } } }"
SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture(scope="module")
async def collector() -> AsyncIterator[Collector]:
    receiver = await Collector().start()
    yield receiver
    await receiver.stop()


@pytest.fixture(scope="module")
async def mesh(
    pg_module_database: DatabaseInfo,
    mysql_module_database: DatabaseInfo,
    tmp_path_factory: pytest.TempPathFactory,
    collector: Collector,
) -> AsyncIterator[UpProcess]:
    folder = tmp_path_factory.mktemp("telemetry")
    await load_postgres(pg_module_database, DATA)
    await load_mariadb(mysql_module_database, DATA)
    load_sqlite(folder / "cache.db", DATA, cached=5)
    config = folder / "dbmesh.toml"
    toml = federation_toml(pg_module_database, mysql_module_database, folder / "cache.db")
    config.write_text(f'{toml}\n[telemetry]\notlp_endpoint = "{collector.endpoint}"\n')
    up = await UpProcess(config, SCHEMA, env=FAST_EXPORT).start()
    yield up
    assert await up.stop() == 0


async def _post(
    up: UpProcess, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            up.url,
            json={"query": query, "variables": variables, "extensions": {"trace": True}},
            headers=headers or {},
        )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


def _trace_id(body: dict[str, Any]) -> str:
    return str(body["extensions"]["trace"]["traceparent"].split("-")[1])


def _complete(trace_id: str, fetches: int, statements: int) -> Any:
    def done(spans: list[Received]) -> bool:
        names = [s.name for s in spans if s.trace_id == trace_id]
        return (
            names.count("graphql.request") == 1
            and names.count("dbmesh.fetch") == fetches
            and names.count("dbmesh.statement") == statements
        )

    return done


async def test_one_trace_across_router_and_resolvers(mesh: UpProcess, collector: Collector) -> None:
    body = await _post(mesh, NESTED, {"id": cid(7)})
    assert len(body["data"]["customer"]["allOrders"]) == 3
    trace_id = _trace_id(body)
    await collector.wait_for(_complete(trace_id, fetches=3, statements=3))
    spans = collector.trace(trace_id)

    (request,) = [s for s in spans if s.name == "graphql.request"]
    assert (request.service, request.kind, request.parent_span_id) == ("dbmesh-router", SERVER, "")
    assert request.attributes == {
        "graphql.operation.name": "Nested",
        "graphql.operation.type": "query",
        "dbmesh.outcome": "ok",
    }

    fetches = {s.attributes["dbmesh.path"]: s for s in spans if s.name == "dbmesh.fetch"}
    assert sorted(fetches) == ["customer", "customer.allOrders", "customer.allOrders.items"]
    for fetch in fetches.values():
        assert (fetch.service, fetch.kind, fetch.parent_span_id) == ("dbmesh-router", CLIENT, request.span_id)
        assert not fetch.failed
    described = {
        path: (f.attributes["dbmesh.database"], f.attributes["dbmesh.collection"], f.attributes["dbmesh.rows"])
        for path, f in fetches.items()
    }
    assert described == {
        "customer": ("postgres_primary", "customers", 1),
        "customer.allOrders": ("mysql_historical", "orders", 3),
        "customer.allOrders.items": ("mysql_historical", "order_items", 6),
    }
    assert "dbmesh.fallback_from" not in fetches["customer"].attributes
    assert fetches["customer.allOrders"].attributes["dbmesh.keys"] == 1  # one customer's id
    assert fetches["customer.allOrders.items"].attributes["dbmesh.keys"] == 3  # three orders' ids

    statements = [s for s in spans if s.name == "dbmesh.statement"]
    by_fetch = {s.parent_span_id: s for s in statements}
    assert sorted(by_fetch) == sorted(f.span_id for f in fetches.values())  # one under each fetch
    routes = {r["fetch"]: r for r in body["extensions"]["trace"]["routes"]}
    for fetch in fetches.values():
        statement = by_fetch[fetch.span_id]
        assert (statement.service, statement.kind) == ("dbmesh-resolver", CLIENT)
        database = fetch.attributes["dbmesh.database"]
        assert statement.attributes["dbmesh.database"] == database
        engine = "postgresql" if database == "postgres_primary" else "mysql"
        assert statement.attributes["db.system.name"] == engine
        route = routes[fetch.attributes["dbmesh.fetch"]]
        assert statement.attributes["db.query.text"] == route["query"]  # the SQL with its placeholders
        assert statement.attributes["dbmesh.rows"] == route["rows"] == fetch.attributes["dbmesh.rows"]


async def test_no_values_in_spans(mesh: UpProcess, collector: Collector) -> None:
    body = await _post(mesh, NESTED, {"id": cid(11)})
    trace_id = _trace_id(body)
    await collector.wait_for(_complete(trace_id, fetches=3, statements=3))
    spans = collector.trace(trace_id)
    order_id = body["data"]["customer"]["allOrders"][0]["id"]
    for value in (cid(11), "c11@example.com", order_id, order_id.replace("-", "")):
        assert not [s.name for s in spans if value.encode() in s.raw], value
    (customer,) = [s for s in spans if s.attributes.get("db.system.name") == "postgresql"]
    assert "$1" in customer.attributes["db.query.text"]  # the id is a bound parameter


async def test_an_incoming_traceparent_is_the_request_spans_parent(mesh: UpProcess, collector: Collector) -> None:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    body = await _post(mesh, NESTED, {"id": cid(3)}, {"traceparent": f"00-{trace_id}-{parent}-01"})
    assert _trace_id(body) == trace_id
    await collector.wait_for(_complete(trace_id, fetches=3, statements=3))
    (request,) = [s for s in collector.trace(trace_id) if s.name == "graphql.request"]
    assert request.parent_span_id == parent


async def test_an_unsampled_traceparent_exports_nothing(mesh: UpProcess, collector: Collector) -> None:
    unsampled = secrets.token_hex(16)
    await _post(mesh, NESTED, {"id": cid(4)}, {"traceparent": f"00-{unsampled}-{secrets.token_hex(8)}-00"})
    sampled = _trace_id(await _post(mesh, NESTED, {"id": cid(5)}))
    # Every process exports its spans in the order they end: the later request's have arrived.
    await collector.wait_for(_complete(sampled, fetches=3, statements=3))
    assert collector.trace(unsampled) == []
