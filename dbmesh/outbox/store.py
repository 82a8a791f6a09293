"""The outbox tables and the contract requests that read and write them (values bound, never
SQL; the resolvers create the tables from their own DDL, services/system_tables.py).

    dbmesh_outbox           (written database) target, collection, row_key, version, operation
                            ('upsert' | 'delete'), row_data (the row as written, contract values in
                            JSON), created_at, applied_at (NULL while pending)
    dbmesh_outbox_drainers  (written database) target, owner, lease_until: who drains it now
    dbmesh_applied          (target) collection, row_key, version, applied_at: the newest change
                            applied to each row
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf import json_format

from dbmesh.coordinator._requests import all_of, eq, is_null, one_of, value
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = [
    "APPLIED",
    "DELETE",
    "DRAINERS",
    "OUTBOX",
    "UPSERT",
    "Change",
    "change_columns",
    "decode_change",
    "decode_row",
    "encode_row",
    "is_pending",
    "now_ms",
    "pending_query",
]

OUTBOX = "dbmesh_outbox"
DRAINERS = "dbmesh_outbox_drainers"
APPLIED = "dbmesh_applied"
UPSERT = "upsert"
DELETE = "delete"

change_columns = ("target", "collection", "row_key", "version", "operation", "row_data", "created_at")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Change:
    """One pending change of one row for one target."""

    target: str
    collection: str
    row_key: str
    version: int
    operation: str
    row_data: str
    created_at: int

    def row(self) -> pb.Row:
        return decode_row(self.row_data)

    def entry(self) -> pb.Expression:
        """The predicate naming this change's outbox row."""
        return all_of(
            eq("target", self.target),
            eq("collection", self.collection),
            eq("row_key", self.row_key),
            eq("version", self.version),
        )


def decode_change(found: Mapping[str, object]) -> Change:
    """The change in an outbox row read as `change_columns`."""
    return Change(
        target=str(found["target"]),
        collection=str(found["collection"]),
        row_key=str(found["row_key"]),
        version=int(str(found["version"])),
        operation=str(found["operation"]),
        row_data=str(found["row_data"]),
        created_at=int(str(found["created_at"])),
    )


def encode_row(row: pb.Row) -> str:
    return json_format.MessageToJson(row, indent=None, sort_keys=True)


def decode_row(text: str) -> pb.Row:
    return json_format.Parse(text, pb.Row())


def is_pending() -> pb.Expression:
    return is_null("applied_at")


def pending_query(target: str, limit: int | None = None, rows: tuple[str, list[str]] | None = None) -> pb.QueryRequest:
    """The oldest `limit` pending changes for `target` (with `rows`, (collection, row keys): only
    theirs), in version order (so the changes of one row come in commit order)."""
    predicate = all_of(eq("target", target), is_pending())
    if rows is not None:
        collection, keys = rows
        predicate = all_of(predicate, eq("collection", collection), one_of("row_key", [value(k) for k in keys]))
    return pb.QueryRequest(
        collection=OUTBOX,
        columns=[pb.ColumnRef(name=c) for c in change_columns],
        predicate=predicate,
        order_by=[pb.OrderBy(column="version"), pb.OrderBy(column="collection"), pb.OrderBy(column="row_key")],
        limit=limit,
    )
