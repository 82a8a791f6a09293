"""Capabilities, schema and status (docs/reference.md §8): what a resolver reports about itself and its
database, the same way on every engine."""

from __future__ import annotations

from conformance.conftest import Conformance
from dbmesh.resolver.v1 import resolver_pb2 as pb

L = pb.LogicalType


async def test_capabilities(resolver: Conformance) -> None:
    capabilities = await resolver.capabilities()
    assert capabilities.engine == resolver.engine
    assert capabilities.database == "conformance"
    assert not capabilities.read_only
    assert capabilities.transactions and capabilities.returning and capabilities.upsert
    assert capabilities.two_phase_commit == (resolver.engine != "sqlite")
    assert capabilities.max_parameters > 0
    assert set(capabilities.operators) == set(pb.Operator.values()) - {pb.OPERATOR_UNSPECIFIED}


async def test_schema_lists_tables_views_and_keys(resolver: Conformance) -> None:
    collections = {c.name: c for c in (await resolver.schema()).collections}
    assert {"people", "orders", "tags", "snippets", "items", "big_orders"} <= set(collections)
    assert [name for name, c in collections.items() if c.is_view] == ["big_orders"]
    assert list(collections["people"].primary_key) == ["id"]
    assert list(collections["tags"].primary_key) == ["person_id", "tag"]
    assert ["sku"] in [list(k.columns) for k in collections["items"].unique_keys]
    assert [c.name for c in collections["people"].columns] == [
        "id",
        "name",
        "nickname",
        "active",
        "balance",
        "joined_at",
        "birthday",
        "profile",
        "score",
        "age",
    ]
    assert [c.name for c in collections["big_orders"].columns] == ["id", "person_id", "order_date", "total"]


async def test_schema_column_types(resolver: Conformance) -> None:
    """Every column whose engine type says what it holds is read as that logical type (a UUID
    stored as CHAR(36) or TEXT is a string until a request asks for LOGICAL_TYPE_UUID)."""
    people = next(c for c in (await resolver.schema()).collections if c.name == "people")
    columns = {c.name: c for c in people.columns}
    expected = {
        "name": L.Value("LOGICAL_TYPE_STRING"),
        "nickname": L.Value("LOGICAL_TYPE_STRING"),
        "active": L.Value("LOGICAL_TYPE_BOOLEAN"),
        "balance": L.Value("LOGICAL_TYPE_DECIMAL"),
        "joined_at": L.Value("LOGICAL_TYPE_DATETIME"),
        "birthday": L.Value("LOGICAL_TYPE_DATE"),
        "profile": L.Value("LOGICAL_TYPE_JSON"),
        "score": L.Value("LOGICAL_TYPE_FLOAT"),
        "age": L.Value("LOGICAL_TYPE_INT"),
    }
    assert {name: L.Name(columns[name].type) for name in expected} == {n: L.Name(t) for n, t in expected.items()}
    assert columns["balance"].scale == 2
    assert not columns["id"].nullable and not columns["name"].nullable
    assert columns["nickname"].nullable and columns["profile"].nullable
    assert all(c.db_type for c in people.columns)


async def test_status(resolver: Conformance) -> None:
    status = await resolver.status()
    assert status.connected, status.error
    assert status.engine == resolver.engine
    assert status.pool_size == 4
    assert status.server_version
    assert status.latency_ms > 0
