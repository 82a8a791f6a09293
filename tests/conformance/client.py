"""A small client for one resolver service, and builders for the contract's requests.

Tests talk to a resolver only through this client, over real gRPC, exactly as the router does: the
conformance suite is written against it once and run against every engine (docs/reference.md §8). Values are
turned into the contract's `Value`s here, independently of the services' own code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import grpc
import orjson

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc

__all__ = [
    "ResolverClient",
    "T",
    "and_",
    "asc",
    "cmp",
    "col",
    "desc",
    "expect_error",
    "not_",
    "or_",
    "row",
    "value",
    "var",
]


class T:
    """Logical types by short name, for column requests: `("person_id", T.UUID)`."""

    STRING = pb.LOGICAL_TYPE_STRING
    INT = pb.LOGICAL_TYPE_INT
    FLOAT = pb.LOGICAL_TYPE_FLOAT
    BOOLEAN = pb.LOGICAL_TYPE_BOOLEAN
    UUID = pb.LOGICAL_TYPE_UUID
    DATETIME = pb.LOGICAL_TYPE_DATETIME
    DATE = pb.LOGICAL_TYPE_DATE
    DECIMAL = pb.LOGICAL_TYPE_DECIMAL
    JSON = pb.LOGICAL_TYPE_JSON


_MESSAGE_LIMIT = 256 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class var:
    """An operand naming a variable that each variable set binds."""

    name: str


def value(v: Any) -> pb.Value:
    """A Python value as the contract's canonical `Value` (a `pb.Value` passes through)."""
    if isinstance(v, pb.Value):
        return v
    if v is None:
        return pb.Value(null=True)
    if isinstance(v, bool):
        return pb.Value(boolean=v)
    if isinstance(v, int):
        return pb.Value(int=v)
    if isinstance(v, float):
        return pb.Value(float=v)
    if isinstance(v, Decimal):
        return pb.Value(decimal=format(v, "f"))
    if isinstance(v, uuid.UUID):
        return pb.Value(uuid=str(v))
    if isinstance(v, datetime):
        return pb.Value(datetime=v.isoformat())
    if isinstance(v, date):
        return pb.Value(date=v.isoformat())
    if isinstance(v, (dict, list)):
        return pb.Value(json=orjson.dumps(v).decode())
    if isinstance(v, str):
        return pb.Value(string=v)
    raise TypeError(f"no contract value for {v!r}")


def col(name: str, logical: int = 0) -> pb.ColumnRef:
    return pb.ColumnRef(name=name, type=logical)  # type: ignore[arg-type]


def _columns(columns: Iterable[str | tuple[str, int] | pb.ColumnRef]) -> list[pb.ColumnRef]:
    refs = []
    for c in columns:
        if isinstance(c, pb.ColumnRef):
            refs.append(c)
        elif isinstance(c, tuple):
            refs.append(col(*c))
        else:
            refs.append(col(c))
    return refs


def cmp(column: str, operator: str, operand: Any) -> pb.Expression:
    """`cmp("name", "ilike", "ab%")`; a list operand is a list, a `var` a variable."""
    op = pb.Operator.Value(f"OPERATOR_{operator.upper()}")
    if isinstance(operand, var):
        rhs = pb.Operand(variable=operand.name)
    elif isinstance(operand, (list, tuple)):
        rhs = pb.Operand(list=pb.ValueList(values=[value(v) for v in operand]))
    else:
        rhs = pb.Operand(value=value(operand))
    return pb.Expression(comparison=pb.Comparison(column=column, operator=op, operand=rhs))


def and_(*expressions: pb.Expression) -> pb.Expression:
    return pb.Expression(**{"and": pb.And(expressions=list(expressions))})


def or_(*expressions: pb.Expression) -> pb.Expression:
    return pb.Expression(**{"or": pb.Or(expressions=list(expressions))})


def not_(expression: pb.Expression) -> pb.Expression:
    return pb.Expression(**{"not": pb.Not(expression=expression)})


def asc(column: str) -> pb.OrderBy:
    return pb.OrderBy(column=column, direction=pb.DIRECTION_ASC)


def desc(column: str) -> pb.OrderBy:
    return pb.OrderBy(column=column, direction=pb.DIRECTION_DESC)


def row(**values: Any) -> pb.Row:
    return pb.Row(values={k: value(v) for k, v in values.items()})


async def expect_error(code: grpc.StatusCode, call: Any) -> str:
    """Await `call`; it must fail with `code`. Returns the status details."""
    try:
        result = await call
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, f"expected {code.name}, got {error.code().name}: {error.details()}"
        return error.details() or ""
    raise AssertionError(f"expected {code.name}, got a response: {result}")


class ResolverClient:
    """One channel to one resolver service. `statements` holds the last response's statements."""

    def __init__(self, address: str, engine: str = "") -> None:
        self.address = address
        self.engine = engine
        options = [
            ("grpc.max_receive_message_length", _MESSAGE_LIMIT),
            ("grpc.max_send_message_length", _MESSAGE_LIMIT),
        ]
        self.channel = grpc.aio.insecure_channel(address, options=options)
        self.stub = pb_grpc.ResolverStub(self.channel)
        self.statements: list[pb.Statement] = []

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> ResolverClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- metadata -------------------------------------------------------------------------------

    async def capabilities(self, timeout: float = DEFAULT_TIMEOUT) -> pb.Capabilities:
        return await self.stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=timeout)

    async def schema(self, timeout: float = DEFAULT_TIMEOUT) -> pb.Schema:
        return await self.stub.GetSchema(pb.GetSchemaRequest(), timeout=timeout)

    async def status(self, timeout: float = DEFAULT_TIMEOUT) -> pb.StatusResponse:
        return await self.stub.Status(pb.StatusRequest(), timeout=timeout)

    # --- reads ----------------------------------------------------------------------------------

    @staticmethod
    def request(
        collection: str,
        columns: Iterable[str | tuple[str, int] | pb.ColumnRef],
        where: pb.Expression | None = None,
        order_by: Sequence[pb.OrderBy] = (),
        limit: int | None = None,
        offset: int | None = None,
        variables: Sequence[Mapping[str, Any]] | None = None,
        transaction_id: str = "",
    ) -> pb.QueryRequest:
        request = pb.QueryRequest(
            collection=collection,
            columns=_columns(columns),
            order_by=list(order_by),
            transaction_id=transaction_id,
        )
        if where is not None:
            request.predicate.CopyFrom(where)
        if limit is not None:
            request.limit = limit
        if offset is not None:
            request.offset = offset
        for variable_set in variables or ():
            request.variables.add(values={k: value(v) for k, v in variable_set.items()})
        return request

    async def run(self, request: pb.QueryRequest, timeout: float = DEFAULT_TIMEOUT) -> list[list[list[Any]]]:
        """The request's row sets, each decoded from `rows_json` (and checked against `row_count`)."""
        response = await self.stub.Query(request, timeout=timeout)
        self.statements = list(response.statements)
        row_sets = []
        for row_set in response.row_sets:
            rows = orjson.loads(row_set.rows_json)
            assert row_set.row_count == len(rows), f"row_count {row_set.row_count} but {len(rows)} rows"
            row_sets.append(rows)
        return row_sets

    async def query(self, collection: str, columns: Iterable[Any], **options: Any) -> list[list[list[Any]]]:
        """Row sets, one per variable set (one when there are none)."""
        timeout = options.pop("timeout", DEFAULT_TIMEOUT)
        return await self.run(self.request(collection, columns, **options), timeout=timeout)

    async def rows(self, collection: str, columns: Iterable[Any], **options: Any) -> list[list[Any]]:
        """The rows of a request without variable sets."""
        row_sets = await self.query(collection, columns, **options)
        assert len(row_sets) == 1, f"expected one row set, got {len(row_sets)}"
        return row_sets[0]

    # --- writes and transactions ----------------------------------------------------------------

    async def mutate(
        self,
        collection: str,
        *,
        insert: Sequence[pb.Row] | None = None,
        upsert: pb.Upsert | None = None,
        update: pb.Update | None = None,
        delete: pb.Delete | None = None,
        returning: Iterable[str | tuple[str, int] | pb.ColumnRef] = (),
        transaction_id: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> tuple[int, list[list[Any]]]:
        """(affected rows, returned rows)."""
        request = pb.MutateRequest(collection=collection, returning=_columns(returning), transaction_id=transaction_id)
        if insert is not None:
            request.insert.CopyFrom(pb.Insert(rows=list(insert)))
        if upsert is not None:
            request.upsert.CopyFrom(upsert)
        if update is not None:
            request.update.CopyFrom(update)
        if delete is not None:
            request.delete.CopyFrom(delete)
        response = await self.stub.Mutate(request, timeout=timeout)
        self.statements = list(response.statements)
        rows = orjson.loads(response.returning.rows_json) if response.returning.rows_json else []
        return response.affected_rows, rows

    async def begin(self, global_id: str = "", timeout: float = DEFAULT_TIMEOUT) -> str:
        response = await self.stub.Begin(pb.BeginRequest(global_id=global_id), timeout=timeout)
        return response.transaction_id

    async def prepare(self, transaction_id: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        response = await self.stub.Prepare(pb.PrepareRequest(transaction_id=transaction_id), timeout=timeout)
        return response.global_id

    async def commit(self, *, transaction_id: str = "", global_id: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        request = (
            pb.CommitRequest(global_id=global_id) if global_id else pb.CommitRequest(transaction_id=transaction_id)
        )
        await self.stub.Commit(request, timeout=timeout)

    async def rollback(
        self, *, transaction_id: str = "", global_id: str = "", timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if global_id:
            request = pb.RollbackRequest(global_id=global_id)
        else:
            request = pb.RollbackRequest(transaction_id=transaction_id)
        await self.stub.Rollback(request, timeout=timeout)

    async def recover(self, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        response = await self.stub.Recover(pb.RecoverRequest(), timeout=timeout)
        return [t.global_id for t in response.transactions]
