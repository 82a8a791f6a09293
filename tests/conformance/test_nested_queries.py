"""Nested requests (docs/reference.md §8, QueryRequest.nested): a chain of relations in one database
answered in ONE call, each level batched over the distinct keys of its parent's rows. The answer
must be exactly what the same levels give as separate batched requests, on every engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import grpc
import orjson

from conformance.client import ResolverClient, T, and_, asc, cmp, desc, expect_error, row, var
from conformance.conftest import Conformance
from conformance.dataset import PERSON
from dbmesh.resolver.v1 import resolver_pb2 as pb

P = PERSON


def _nested(request: pb.QueryRequest, *keys: tuple[str, int]) -> pb.NestedQuery:
    return pb.NestedQuery(request=request, keys=[pb.NestedKey(variable=v, parent_column=c) for v, c in keys])


def _decoded(response: pb.QueryResponse) -> list[list[list[Any]]]:
    return [orjson.loads(rs.rows_json) for rs in response.row_sets]


def _people() -> pb.QueryRequest:
    """Four people (one without orders), in name order; the UUID key comes second."""
    names = ["Zoë", "abc", "Bob", "ÉMILE"]
    return ResolverClient.request(
        "people", ["name", ("id", T.UUID)], where=cmp("name", "in", names), order_by=[asc("name")]
    )


def _orders() -> pb.QueryRequest:
    """Each person's two latest orders of at least 5.00 (per-key ordering, limit and a filter)."""
    return ResolverClient.request(
        "orders",
        ["id", ("person_id", T.UUID), "total"],
        where=and_(cmp("person_id", "eq", var("k0")), cmp("total", "gte", Decimal("5"))),
        order_by=[desc("order_date")],
        limit=2,
    )


def _owners() -> pb.QueryRequest:
    """Back from an order to its person (a many-to-one level under a one-to-many one)."""
    return ResolverClient.request("people", [("id", T.UUID), "age"], where=cmp("id", "eq", var("k0")))


def _tags() -> pb.QueryRequest:
    return ResolverClient.request("tags", ["tag", "weight"], where=cmp("person_id", "eq", var("k0")))


def _chain() -> pb.QueryRequest:
    request = _people()
    orders = _orders()
    orders.nested.append(_nested(_owners(), ("k0", 1)))
    request.nested.extend([_nested(orders, ("k0", 1)), _nested(_tags(), ("k0", 1))])
    return request


async def _separately(resolver: Conformance, request: pb.QueryRequest, rows: list[list[Any]], column: int) -> Any:
    """The row sets of `request` asked on its own for the distinct keys of `rows`."""
    keys = list(dict.fromkeys(r[column] for r in rows if r[column] is not None))
    alone = pb.QueryRequest()
    alone.CopyFrom(request)
    del alone.nested[:]
    alone.variables.extend(pb.VariableSet(values={"k0": pb.Value(uuid=k)}) for k in keys)
    return await resolver.run(alone)


async def test_a_chain_in_one_call_equals_its_levels_asked_separately(resolver: Conformance) -> None:
    response = await resolver.stub.Query(_chain())
    people = _decoded(response)
    assert [r[0] for r in people[0]] == ["Bob", "Zoë", "abc", "ÉMILE"]
    orders, tags = response.nested
    order_sets = _decoded(orders)
    # One row set per distinct person, in the parent's row order: Bob, Zoë, abc, ÉMILE.
    assert [[r[0] for r in rows] for rows in order_sets] == [[], [7, 2], [4, 5], []]  # Bob's is below 5.00
    assert order_sets == await _separately(resolver, _orders(), people[0], 1)
    assert _decoded(tags) == await _separately(resolver, _tags(), people[0], 1)
    (owners,) = orders.nested
    order_rows = [row for rows in order_sets for row in rows]
    assert _decoded(owners) == await _separately(resolver, _owners(), order_rows, 1)
    assert [rows[0][0] for rows in _decoded(owners)] == [str(P["zoe"]), str(P["abc"])]
    # One statement per level, each reported with the level that ran it.
    assert [len(r.statements) for r in (response, orders, tags, owners)] == [1, 1, 1, 1]
    assert "orders" in orders.statements[0].sql and "tags" in tags.statements[0].sql


async def test_a_parent_without_rows_answers_every_level_empty(resolver: Conformance) -> None:
    request = _chain()
    request.predicate.CopyFrom(cmp("name", "eq", "nobody"))
    response = await resolver.stub.Query(request)
    assert _decoded(response) == [[]]
    orders, tags = response.nested
    assert (len(orders.row_sets), len(tags.row_sets), len(orders.nested[0].row_sets)) == (0, 0, 0)
    assert [len(r.statements) for r in (orders, tags, orders.nested[0])] == [0, 0, 0]


async def test_nested_levels_read_inside_the_parents_transaction(resolver: Conformance) -> None:
    transaction = await resolver.begin()
    try:
        await resolver.mutate("tags", insert=[row(person_id=P["bob"], tag="new", weight=9)], transaction_id=transaction)
        request = _chain()
        request.transaction_id = transaction
        response = await resolver.stub.Query(request)
        assert _decoded(response.nested[1])[0] == [["new", 9]]  # Bob's tags: only the uncommitted one
    finally:
        await resolver.rollback(transaction_id=transaction)


async def test_a_bad_nested_request_is_invalid_argument_naming_it(resolver: Conformance) -> None:
    def variant(change: str) -> pb.QueryRequest:
        request = _people()
        nested = _nested(_tags(), ("k0", 1))
        if change == "column":
            nested.keys[0].parent_column = 2
        elif change == "collection":
            nested.request.collection = "nope"
        elif change == "keys":
            del nested.keys[:]
        elif change == "variables":
            nested.request.variables.add(values={"k0": pb.Value(null=True)})
        request.nested.append(nested)
        return request

    message = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.stub.Query(variant("column")))
    assert "nested[0]: parent_column 2 is not one of the parent's 2 columns" in message
    message = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.stub.Query(variant("collection")))
    assert "'nope'" in message
    message = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.stub.Query(variant("keys")))
    assert "nested[0] names no keys" in message
    message = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.stub.Query(variant("variables")))
    assert "sends no variables" in message
