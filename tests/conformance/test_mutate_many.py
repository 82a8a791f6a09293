"""MutateMany (docs/reference.md §8): several mutations in order in one transaction, in one call —
a transaction of the call's own (committed with the last request, or left open and named), or an
open one it is given; a failing request fails the call and applies nothing of a transaction the
call began. On every engine, through a real resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import orjson
import pytest_asyncio

from conformance.client import asc, cmp, expect_error, row
from conformance.conftest import Conformance
from dbmesh.resolver.v1 import resolver_pb2 as pb


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def empty_items(resolver: Conformance) -> AsyncIterator[None]:
    await resolver.backend.execute("DELETE FROM items")
    yield
    await resolver.backend.execute("DELETE FROM items")


def _insert(*ids: int) -> pb.MutateRequest:
    rows = [row(id=i, sku=f"s{i}", qty=i) for i in ids]
    return pb.MutateRequest(collection="items", insert=pb.Insert(rows=rows), returning=[pb.ColumnRef(name="id")])


def _set_qty(item_id: int, qty: int) -> pb.MutateRequest:
    update = pb.Update(predicate=cmp("id", "eq", item_id), set={"qty": pb.Value(int=qty)})
    return pb.MutateRequest(collection="items", update=update)


async def _qty(resolver: Conformance, transaction_id: str = "") -> list[list[int]]:
    return await resolver.rows("items", ["id", "qty"], order_by=[asc("id")], transaction_id=transaction_id)


async def test_one_call_commits_every_request_in_order(resolver: Conformance) -> None:
    request = pb.MutateManyRequest(requests=[_insert(1, 2), _set_qty(2, 20), _insert(3)], commit=True)
    response = await resolver.stub.MutateMany(request, timeout=20)
    assert [r.affected_rows for r in response.responses] == [2, 1, 1]
    assert orjson.loads(response.responses[0].returning.rows_json) in ([[1], [2]], [[2], [1]])
    assert response.transaction_id == ""
    assert await _qty(resolver) == [[1, 1], [2, 20], [3, 3]]


async def test_an_open_transaction_is_named_and_continued(resolver: Conformance) -> None:
    first = await resolver.stub.MutateMany(pb.MutateManyRequest(requests=[_insert(1)], commit=False), timeout=20)
    tx = first.transaction_id
    assert tx
    assert await _qty(resolver) == []  # not visible outside before commit
    assert await _qty(resolver, tx) == [[1, 1]]
    second = pb.MutateManyRequest(requests=[_set_qty(1, 10), _insert(2)], transaction_id=tx, commit=True)
    response = await resolver.stub.MutateMany(second, timeout=20)
    assert ([r.affected_rows for r in response.responses], response.transaction_id) == ([1, 1], "")
    assert await _qty(resolver) == [[1, 10], [2, 2]]
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.commit(transaction_id=tx))


async def test_a_failing_request_applies_nothing_of_the_calls_own_transaction(resolver: Conformance) -> None:
    await resolver.mutate("items", insert=[row(id=5, sku="s5", qty=5)])
    for commit in (True, False):
        request = pb.MutateManyRequest(requests=[_insert(1), _set_qty(5, 50), _insert(5)], commit=commit)
        await expect_error(grpc.StatusCode.ALREADY_EXISTS, resolver.stub.MutateMany(request, timeout=20))
        assert await _qty(resolver) == [[5, 5]]


async def test_a_failing_request_leaves_a_given_transaction_to_the_caller(resolver: Conformance) -> None:
    tx = await resolver.begin()
    await resolver.mutate("items", insert=[row(id=1, sku="s1", qty=1)], transaction_id=tx)
    request = pb.MutateManyRequest(requests=[_insert(1)], transaction_id=tx, commit=True)
    await expect_error(grpc.StatusCode.ALREADY_EXISTS, resolver.stub.MutateMany(request, timeout=20))
    await resolver.rollback(transaction_id=tx)  # still open: the caller ends it
    assert await _qty(resolver) == []


async def test_an_unknown_transaction_or_collection_is_refused(resolver: Conformance) -> None:
    request = pb.MutateManyRequest(requests=[_insert(1)], transaction_id="no-such-transaction", commit=True)
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.stub.MutateMany(request, timeout=20))
    unknown = pb.MutateRequest(collection="no_such_table", insert=pb.Insert(rows=[row(id=1)]))
    request = pb.MutateManyRequest(requests=[_insert(1), unknown], commit=True)
    message = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.stub.MutateMany(request, timeout=20))
    assert message == "unknown collection 'no_such_table'"
    assert await _qty(resolver) == []
