"""Capabilities and introspection of a MariaDB database (docs/reference.md §8): types, nullability, keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from mysql_resolver import Resolver

from dbmesh.resolver.v1 import resolver_pb2 as pb

Sql = Callable[[str], list[tuple[Any, ...]]]


async def test_capabilities(resolver: Resolver) -> None:
    caps = await resolver.stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10)
    assert caps.engine == "mysql"
    assert caps.database == "shop"
    assert caps.two_phase_commit and caps.transactions and caps.returning and caps.upsert
    assert caps.max_parameters == 65535


async def test_types_keys_and_views(resolver: Resolver, sql: Sql) -> None:
    sql(
        """CREATE TABLE items (
            id INT NOT NULL,
            region CHAR(2) NOT NULL,
            active TINYINT(1) NOT NULL,
            flag BOOL,
            bits BIT(1),
            price DECIMAL(10,2),
            ratio DOUBLE,
            made DATETIME(6),
            stamped TIMESTAMP NULL,
            born DATE,
            doc JSON,
            notes LONGTEXT,
            token UUID,
            code VARCHAR(20) NOT NULL,
            sku VARCHAR(20) COLLATE utf8mb4_nopad_bin,
            qty BIGINT UNSIGNED,
            PRIMARY KEY (region, id),
            UNIQUE KEY by_code (code),
            UNIQUE KEY by_pair (sku, qty)
        );
        CREATE VIEW cheap AS SELECT id, price FROM items WHERE price < 10"""
    )
    schema = await resolver.stub.GetSchema(pb.GetSchemaRequest(), timeout=10)
    collections = {c.name: c for c in schema.collections}
    assert sorted(collections) == ["cheap", "items"]
    items = collections["items"]
    assert not items.is_view and collections["cheap"].is_view
    assert list(items.primary_key) == ["region", "id"]
    assert sorted(list(k.columns) for k in items.unique_keys) == [["code"], ["sku", "qty"]]
    columns = {c.name: c for c in items.columns}
    assert [c.name for c in items.columns][:3] == ["id", "region", "active"]
    expected = {
        "id": ("int(11)", pb.LOGICAL_TYPE_INT),
        "active": ("tinyint(1)", pb.LOGICAL_TYPE_BOOLEAN),
        "flag": ("tinyint(1)", pb.LOGICAL_TYPE_BOOLEAN),
        "bits": ("bit(1)", pb.LOGICAL_TYPE_BOOLEAN),
        "price": ("decimal(10,2)", pb.LOGICAL_TYPE_DECIMAL),
        "ratio": ("double", pb.LOGICAL_TYPE_FLOAT),
        "made": ("datetime(6)", pb.LOGICAL_TYPE_DATETIME),
        "stamped": ("timestamp", pb.LOGICAL_TYPE_DATETIME),
        "born": ("date", pb.LOGICAL_TYPE_DATE),
        "doc": ("longtext", pb.LOGICAL_TYPE_JSON),  # MariaDB's JSON: longtext CHECK (json_valid(doc))
        "notes": ("longtext", pb.LOGICAL_TYPE_STRING),
        "token": ("uuid", pb.LOGICAL_TYPE_UUID),
        "code": ("varchar(20)", pb.LOGICAL_TYPE_STRING),
        "qty": ("bigint(20) unsigned", pb.LOGICAL_TYPE_INT),
    }
    assert {name: (columns[name].db_type, columns[name].type) for name in expected} == expected
    assert columns["price"].scale == 2
    assert not columns["id"].nullable and not columns["active"].nullable
    assert columns["flag"].nullable and columns["doc"].nullable
    view_columns = {c.name: c.type for c in collections["cheap"].columns}
    assert view_columns == {"id": pb.LOGICAL_TYPE_INT, "price": pb.LOGICAL_TYPE_DECIMAL}


async def test_schema_is_refreshed_on_request(resolver: Resolver, sql: Sql) -> None:
    assert len((await resolver.stub.GetSchema(pb.GetSchemaRequest(), timeout=10)).collections) == 0
    sql("CREATE TABLE later (id INT PRIMARY KEY)")
    schema = await resolver.stub.GetSchema(pb.GetSchemaRequest(), timeout=10)
    assert [c.name for c in schema.collections] == ["later"]


async def test_unknown_names_are_invalid_arguments(resolver: Resolver, sql: Sql) -> None:
    sql("CREATE TABLE t (id INT PRIMARY KEY)")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.query("t", ["id", "nope`"])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nope`" in (caught.value.details() or "")
