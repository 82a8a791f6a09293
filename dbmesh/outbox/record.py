"""Recording a write-through write in the outbox, inside the write's own transaction
(docs/reference.md §11): the change commits with the write or not at all, so no acknowledged write
is ever missing from the outbox, and no rolled-back one is in it.

Versions: each row's changes are numbered in commit order. The new version is the row's newest
outbox version plus one (read inside the transaction, after the write: the write holds the row's
lock, so a concurrent writer of the same row reads it only after this one commits), or the clock in
microseconds when that is larger (so a row whose old entries were pruned still moves forward).
The outbox key includes the version, so two writers that computed the same one cannot both commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from dbmesh.coordinator._requests import all_of, eq, row
from dbmesh.outbox.keys import row_key
from dbmesh.outbox.store import OUTBOX, Change, encode_row, now_ms
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["TransactionLike", "Written", "record"]


class TransactionLike(Protocol):
    """What recording needs of `dbmesh.coordinator.Transaction`."""

    async def mutate(self, database: str, request: pb.MutateRequest) -> pb.MutateResponse: ...

    async def query(self, database: str, request: pb.QueryRequest) -> pb.QueryResponse: ...


@dataclass(frozen=True)
class Written:
    """What one write-through field wrote to `database`: each row as it is after the write (a
    deleted row as it was), as contract values (`rows`) and as the canonical values the resolver
    returned (`values`, in `columns` order)."""

    database: str
    collection: str
    targets: tuple[str, ...]
    operation: str  # store.UPSERT | store.DELETE
    columns: tuple[str, ...]
    values: Sequence[Sequence[Any]]
    rows: Sequence[pb.Row]


def _version_query(collection: str, keys: Sequence[str]) -> pb.QueryRequest:
    predicate = all_of(
        eq("collection", collection),
        pb.Expression(
            comparison=pb.Comparison(column="row_key", operator=pb.OPERATOR_EQ, operand=pb.Operand(variable="row_key"))
        ),
    )
    return pb.QueryRequest(
        collection=OUTBOX,
        columns=[pb.ColumnRef(name="version")],
        predicate=predicate,
        order_by=[pb.OrderBy(column="version", direction=pb.DIRECTION_DESC)],
        limit=1,
        variables=[pb.VariableSet(values={"row_key": pb.Value(string=k)}) for k in keys],
    )


async def record(transaction: TransactionLike, written: Written, key_columns: Sequence[str]) -> list[Change]:
    """Insert the outbox rows of `written` (one per row and target) in `transaction`; the changes."""
    if not written.rows:
        return []
    positions = [written.columns.index(k) for k in key_columns]
    keys = [row_key([values[p] for p in positions]) for values in written.values]
    distinct = list(dict.fromkeys(keys))
    response = await transaction.query(written.database, _version_query(written.collection, distinct))
    clock = time.time_ns() // 1000
    newest: dict[str, int] = {}
    for key, row_set in zip(distinct, response.row_sets, strict=True):
        found: list[list[int]] = orjson.loads(row_set.rows_json or b"[]")
        newest[key] = max(found[0][0] + 1 if found else 0, clock)
    created = now_ms()
    changes: list[Change] = []
    for key, data in zip(keys, written.rows, strict=True):
        version = newest[key]
        newest[key] = version + 1  # the same row twice in one write: in order
        encoded = encode_row(data)
        changes += [
            Change(target, written.collection, key, version, written.operation, encoded, created)
            for target in written.targets
        ]
    entries = [
        row(
            {
                "target": c.target,
                "collection": c.collection,
                "row_key": c.row_key,
                "version": c.version,
                "operation": c.operation,
                "row_data": c.row_data,
                "created_at": c.created_at,
                "applied_at": None,
            }
        )
        for c in changes
    ]
    await transaction.mutate(written.database, pb.MutateRequest(collection=OUTBOX, insert=pb.Insert(rows=entries)))
    return changes
