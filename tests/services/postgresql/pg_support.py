"""Helpers for the PostgreSQL engine's tests: configuration, setup SQL and request builders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from harness.config import database_toml, server_settings
from harness.servers import DatabaseInfo

from dbmesh.config import DatabaseConfig, parse_config
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services.values import to_proto

StartResolver = Callable[..., Awaitable[pb_grpc.ResolverStub]]


def pg_config(info: DatabaseInfo, **settings: Any) -> DatabaseConfig:
    """A `[[databases]]` entry for `info`, through the real configuration loader."""
    values = {**server_settings(info), "pool_size": 4, "timeout_secs": 5, **settings}
    return parse_config(database_toml("pg", values)).databases[0]


async def run_sql(info: DatabaseInfo, sql: str) -> None:
    """Run setup SQL (several statements allowed) on the test database, outside any resolver."""
    conn = await asyncpg.connect(
        host=info.host, port=info.port, user=info.user, password=info.password, database=info.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# --- request builders ------------------------------------------------------------------------


def cols(*names: str) -> list[pb.ColumnRef]:
    return [pb.ColumnRef(name=n) for n in names]


def cmp(
    column: str, op: int, value: Any = None, *, variable: str = "", values: list[Any] | None = None
) -> pb.Expression:
    """A comparison on `column` against a value, a list of values or a variable."""
    if variable:
        operand = pb.Operand(variable=variable)
    elif values is not None:
        operand = pb.Operand(list=pb.ValueList(values=[to_proto(v) for v in values]))
    else:
        operand = pb.Operand(value=to_proto(value))
    return pb.Expression(comparison=pb.Comparison(column=column, operator=op, operand=operand))  # type: ignore[arg-type]


def rows(row_set: pb.RowSet) -> list[list[Any]]:
    decoded: list[list[Any]] = orjson.loads(row_set.rows_json)
    return decoded
