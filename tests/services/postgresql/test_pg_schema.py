"""Introspection and capabilities of the PostgreSQL resolver (docs/reference.md §8): types as the server names
them, logical types, nullability, decimal scale, primary keys in key order, unique keys, views."""

from __future__ import annotations

from harness.servers import DatabaseInfo
from pg_support import StartResolver, run_sql

from dbmesh.resolver.v1 import resolver_pb2 as pb

SCHEMA = """
CREATE DOMAIN money2 AS numeric(12, 2);
CREATE TABLE kinds (
    id uuid PRIMARY KEY,
    flag boolean,
    small smallint,
    medium integer NOT NULL,
    big bigint,
    real4 real,
    real8 double precision,
    price numeric(10, 2),
    plain_number numeric,
    amount money2,
    at timestamptz,
    local_at timestamp,
    day date,
    doc jsonb,
    raw_doc json,
    name character varying(40),
    code character(3),
    body text,
    tags text[]
);
CREATE TABLE pairs (a integer, b text, c integer, d integer, PRIMARY KEY (b, a), UNIQUE (c), UNIQUE (d, a));
CREATE UNIQUE INDEX pairs_partial ON pairs (d) WHERE d > 0;
CREATE UNIQUE INDEX pairs_expression ON pairs (lower(b));
CREATE VIEW kind_names AS SELECT id, name FROM kinds;
"""

L = pb.LogicalType


async def test_schema_types_keys_and_views(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    await run_sql(pg_database, SCHEMA)
    stub = await start_resolver(pg_database)
    schema = await stub.GetSchema(pb.GetSchemaRequest())
    collections = {c.name: c for c in schema.collections}
    assert list(collections) == ["kind_names", "kinds", "pairs"]

    kinds = collections["kinds"]
    columns = {c.name: (c.db_type, c.type, c.nullable, c.scale) for c in kinds.columns}
    assert columns == {
        "id": ("uuid", L.LOGICAL_TYPE_UUID, False, 0),
        "flag": ("boolean", L.LOGICAL_TYPE_BOOLEAN, True, 0),
        "small": ("smallint", L.LOGICAL_TYPE_INT, True, 0),
        "medium": ("integer", L.LOGICAL_TYPE_INT, False, 0),
        "big": ("bigint", L.LOGICAL_TYPE_INT, True, 0),
        "real4": ("real", L.LOGICAL_TYPE_FLOAT, True, 0),
        "real8": ("double precision", L.LOGICAL_TYPE_FLOAT, True, 0),
        "price": ("numeric(10,2)", L.LOGICAL_TYPE_DECIMAL, True, 2),
        "plain_number": ("numeric", L.LOGICAL_TYPE_DECIMAL, True, 0),
        "amount": ("money2", L.LOGICAL_TYPE_DECIMAL, True, 2),
        "at": ("timestamp with time zone", L.LOGICAL_TYPE_DATETIME, True, 0),
        "local_at": ("timestamp without time zone", L.LOGICAL_TYPE_DATETIME, True, 0),
        "day": ("date", L.LOGICAL_TYPE_DATE, True, 0),
        "doc": ("jsonb", L.LOGICAL_TYPE_JSON, True, 0),
        "raw_doc": ("json", L.LOGICAL_TYPE_JSON, True, 0),
        "name": ("character varying(40)", L.LOGICAL_TYPE_STRING, True, 0),
        "code": ("character(3)", L.LOGICAL_TYPE_STRING, True, 0),
        "body": ("text", L.LOGICAL_TYPE_STRING, True, 0),
        "tags": ("text[]", L.LOGICAL_TYPE_STRING, True, 0),
    }
    assert [c.name for c in kinds.columns][:3] == ["id", "flag", "small"]  # table order
    assert list(kinds.primary_key) == ["id"]
    assert not kinds.is_view

    pairs = collections["pairs"]
    assert list(pairs.primary_key) == ["b", "a"]  # key order, not table order
    assert sorted(list(k.columns) for k in pairs.unique_keys) == [["c"], ["d", "a"]]  # no partial or expression

    view = collections["kind_names"]
    assert view.is_view
    assert list(view.primary_key) == []
    assert [(c.name, c.db_type) for c in view.columns] == [("id", "uuid"), ("name", "character varying(40)")]


async def test_capabilities(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    stub = await start_resolver(pg_database)
    caps = await stub.GetCapabilities(pb.GetCapabilitiesRequest())
    assert caps.engine == "postgresql"
    assert caps.database == "pg"
    assert caps.two_phase_commit and caps.transactions and not caps.read_only
    assert caps.max_parameters == 32767


async def test_status_reports_version_and_pool(pg_database: DatabaseInfo, start_resolver: StartResolver) -> None:
    stub = await start_resolver(pg_database, pool_size=3)
    status = await stub.Status(pb.StatusRequest())
    assert status.connected, status.error
    assert status.server_version.split(".")[0].isdigit()
    assert status.pool_size == 3
    assert status.pool_in_use == 0
    assert status.engine == "postgresql"
