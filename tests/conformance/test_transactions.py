"""Transactions (docs/reference.md §8): Begin opens one on a dedicated connection; reads and writes name it;
Rollback leaves nothing behind, Commit keeps everything; a finished transaction is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest_asyncio

from conformance.client import asc, cmp, expect_error, row
from conformance.conftest import Conformance
from dbmesh.resolver.v1 import resolver_pb2 as pb


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def empty_items(resolver: Conformance) -> AsyncIterator[None]:
    await resolver.backend.execute("DELETE FROM items")
    yield
    await resolver.backend.execute("DELETE FROM items")


async def _ids(resolver: Conformance, transaction_id: str = "") -> list[int]:
    rows = await resolver.rows("items", ["id"], order_by=[asc("id")], transaction_id=transaction_id)
    return [r[0] for r in rows]


async def test_rollback_leaves_nothing_behind(resolver: Conformance) -> None:
    await resolver.mutate("items", insert=[row(id=1, sku="kept", qty=1)])
    tx = await resolver.begin()
    affected, returned = await resolver.mutate(
        "items", insert=[row(id=2, sku="A", qty=1), row(id=3, sku="B", qty=2)], returning=["id"], transaction_id=tx
    )
    assert (affected, sorted(returned)) == (2, [[2], [3]])
    update = pb.Update(predicate=cmp("id", "eq", 1), set={"qty": pb.Value(int=50)})
    assert (await resolver.mutate("items", update=update, transaction_id=tx))[0] == 1
    assert await _ids(resolver, tx) == [1, 2, 3]
    assert await _ids(resolver) == [1]  # not visible outside before commit
    await resolver.rollback(transaction_id=tx)
    assert await resolver.rows("items", ["id", "qty"]) == [[1, 1]]
    assert await resolver.backend.count("items") == 1
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.mutate("items", insert=[row(id=4)], transaction_id=tx))
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.commit(transaction_id=tx))


async def test_commit_keeps_everything(resolver: Conformance) -> None:
    tx = await resolver.begin()
    rows = [row(id=i, sku=f"s{i}", qty=i) for i in (1, 2, 3)]
    assert (await resolver.mutate("items", insert=rows, transaction_id=tx))[0] == 3
    update = pb.Update(predicate=cmp("id", "gte", 2), set={"qty": pb.Value(int=0)})
    assert (await resolver.mutate("items", update=update, transaction_id=tx))[0] == 2
    affected, returned = await resolver.mutate(
        "items", delete=pb.Delete(predicate=cmp("id", "eq", 3)), returning=["sku"], transaction_id=tx
    )
    assert (affected, returned) == (1, [["s3"]])
    await resolver.commit(transaction_id=tx)
    assert await resolver.rows("items", ["id", "qty"], order_by=[asc("id")]) == [[1, 1], [2, 0]]
    assert await resolver.backend.count("items") == 2
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.rollback(transaction_id=tx))


async def test_unknown_transaction_is_not_found(resolver: Conformance) -> None:
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.commit(transaction_id="no-such-transaction"))
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.rollback(transaction_id="no-such-transaction"))
    await expect_error(grpc.StatusCode.NOT_FOUND, resolver.prepare("no-such-transaction"))


async def test_prepare_needs_a_global_id(resolver: Conformance) -> None:
    tx = await resolver.begin()
    await resolver.mutate("items", insert=[row(id=1, sku="A", qty=1)], transaction_id=tx)
    await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.prepare(tx))
    assert await _ids(resolver, tx) == [1]  # still the caller's to end
    await resolver.rollback(transaction_id=tx)
    assert await resolver.backend.count("items") == 0
