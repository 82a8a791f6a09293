"""Requests nested in a Query (docs/reference.md §8): a chain of relations served by one database
in one call. This module checks them and derives each nested request's keys from its parent's
canonical rows (what its variable sets would bind, had the router sent them); `services.servicer`
runs them, on the parent's connection (`services.compiler.compile_nested`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbmesh.canonical import distinct_keys
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import Catalog, CollectionInfo, Logical
from dbmesh.services.errors import InvalidArgument
from dbmesh.services.values import key_value

__all__ = ["check_nested", "empty_response", "nested_keys"]


def check_nested(request: pb.QueryRequest, catalog: Catalog, path: str = "nested") -> None:
    """Every request nested in `request` (at any depth) names a collection of `catalog`, binds each
    of its variables once to a column the parent requests, and sends no variables, transaction
    or replica of its own (the parent's apply)."""
    for position, item in enumerate(request.nested):
        where = f"{path}[{position}]"
        child = item.request
        catalog.collection(child.collection)
        if not item.keys:
            raise InvalidArgument(f"{where} names no keys")
        variables = [k.variable for k in item.keys]
        if "" in variables or len(set(variables)) != len(variables):
            raise InvalidArgument(f"{where}: each key must name a distinct variable (got {variables})")
        for key in item.keys:
            if not 0 <= key.parent_column < len(request.columns):
                raise InvalidArgument(
                    f"{where}: parent_column {key.parent_column} is not one of the parent's "
                    f"{len(request.columns)} columns"
                )
        if child.variables or child.transaction_id or child.replica:
            raise InvalidArgument(f"{where}: a nested request sends no variables, transaction_id or replica")
        check_nested(child, catalog, f"{where}.nested")


def nested_keys(
    parent: pb.QueryRequest,
    collection: CollectionInfo,
    item: pb.NestedQuery,
    row_sets: Sequence[Sequence[Sequence[Any]]],
) -> list[tuple[Any, ...]]:
    """The distinct keys of the parent's rows that `item` binds, in order of first appearance,
    each value as the router would send it back (typed as the parent read its column), in the
    order of `item.keys`: what its request's variable sets would bind, without building them."""
    columns = [k.parent_column for k in item.keys]
    types = [_logical(parent.columns[i], collection) for i in columns]
    rows = (row for rows in row_sets for row in rows)
    return [tuple(key_value(v, t) for v, t in zip(key, types, strict=True)) for key in distinct_keys(rows, columns)]


def empty_response(request: pb.QueryRequest) -> pb.QueryResponse:
    """The answer to a nested request whose parent has no key: no row sets, nor any below it."""
    return pb.QueryResponse(nested=[empty_response(n.request) for n in request.nested])


def _logical(column: pb.ColumnRef, collection: CollectionInfo) -> Logical:
    if column.type != pb.LOGICAL_TYPE_UNSPECIFIED:
        return Logical(column.type)
    return collection.column(column.name).logical
