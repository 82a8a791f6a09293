"""Helpers for the MySQL resolver tests: the configuration of a throwaway database, a running
resolver with its gRPC stub, and builders for contract requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from harness.config import database_toml, server_settings
from harness.servers import DatabaseInfo

from dbmesh.config import DatabaseConfig, parse_config
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services import RunningServer
from dbmesh.services.values import to_proto


def mysql_config(info: DatabaseInfo, **settings: Any) -> DatabaseConfig:
    """The `[[databases]]` entry for `info`, with extra keys (`timeout_secs = 1`, ...)."""
    return parse_config(database_toml("shop", {**server_settings(info), **settings})).databases[0]


@dataclass
class Resolver:
    """A running resolver and a stub talking to it."""

    config: DatabaseConfig
    running: RunningServer
    channel: grpc.aio.Channel
    stub: pb_grpc.ResolverStub

    async def query(self, collection: str, columns: Iterable[str], **fields: Any) -> pb.QueryResponse:
        request = pb.QueryRequest(collection=collection, columns=[pb.ColumnRef(name=c) for c in columns], **fields)
        return await self.stub.Query(request, timeout=30)

    async def rows(self, collection: str, columns: Iterable[str], **fields: Any) -> list[list[Any]]:
        """The rows of a query without variable sets, decoded."""
        response = await self.query(collection, columns, **fields)
        assert len(response.row_sets) == 1
        rows: list[list[Any]] = orjson.loads(response.row_sets[0].rows_json)
        return rows

    async def mutate(self, collection: str, returning: Iterable[str] = (), **operation: Any) -> pb.MutateResponse:
        request = pb.MutateRequest(
            collection=collection, returning=[pb.ColumnRef(name=c) for c in returning], **operation
        )
        return await self.stub.Mutate(request, timeout=30)


StartResolver = Callable[..., Awaitable[Resolver]]


# --- request building --------------------------------------------------------------------------


def cmp(column: str, operator: int, operand: Any) -> pb.Expression:
    """`column <operator> operand`; a list operand is a list, a `$name` string a variable."""
    if isinstance(operand, list):
        rhs = pb.Operand(list=pb.ValueList(values=[to_proto(v) for v in operand]))
    elif isinstance(operand, str) and operand.startswith("$"):
        rhs = pb.Operand(variable=operand[1:])
    else:
        rhs = pb.Operand(value=to_proto(operand))
    return pb.Expression(comparison=pb.Comparison(column=column, operator=operator, operand=rhs))  # type: ignore[arg-type]


def and_(*expressions: pb.Expression) -> pb.Expression:
    return pb.Expression(**{"and": pb.And(expressions=list(expressions))})


def row(**values: Any) -> pb.Row:
    return pb.Row(values={k: to_proto(v) for k, v in values.items()})


def decode(row_set: pb.RowSet) -> list[list[Any]]:
    rows: list[list[Any]] = orjson.loads(row_set.rows_json)
    return rows
