"""Upserts mean the same on every engine (docs/reference.md §10; services/writes.py): the
conflict columns are a unique key; a row whose key exists takes the update columns, in input
order with new rows; update columns that are all key columns leave existing rows alone (neither
counted nor returned); a conflict on ANOTHER unique key is ALREADY_EXISTS, never an update of the
row that holds it (MySQL's ON DUPLICATE KEY would fire on any unique key). `items` has primary
key `id` and a unique `sku`; each case starts from rows (1, A, 1) and (2, B, 2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from conformance.client import asc, expect_error, row
from conformance.conftest import Conformance
from dbmesh.resolver.v1 import resolver_pb2 as pb

COLUMNS = ["id", "sku", "qty"]
SEEDED = [[1, "A", 1], [2, "B", 2]]


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def seeded_items(resolver: Conformance) -> AsyncIterator[None]:
    await resolver.backend.execute("DELETE FROM items")
    affected, _ = await resolver.mutate("items", insert=[row(id=i, sku=s, qty=q) for i, s, q in SEEDED])
    assert affected == 2
    yield
    await resolver.backend.execute("DELETE FROM items")


async def _items(resolver: Conformance) -> list[list[Any]]:
    return await resolver.rows("items", COLUMNS, order_by=[asc("id")])


# (rows as (id, sku, qty), conflict columns, update columns) -> (affected, returned, table after)
CASES: dict[str, tuple[list[tuple[int, str, int]], list[str], list[str], int, list[list[Any]], list[list[Any]]]] = {
    "new and existing key, input order": (
        [(3, "C", 3), (1, "A", 10)],
        ["id"],
        ["qty"],
        2,
        [[3, "C", 3], [1, "A", 10]],
        [[1, "A", 10], [2, "B", 2], [3, "C", 3]],
    ),
    "conflict on the unique sku updates the row that holds it": (
        [(9, "B", 20)],
        ["sku"],
        ["qty"],
        1,
        [[2, "B", 20]],
        [[1, "A", 1], [2, "B", 20]],
    ),
    "update columns all in the key: existing rows left alone, not counted": (
        [(1, "Z", 99), (4, "D", 4)],
        ["id"],
        ["id"],
        1,
        [[4, "D", 4]],
        [[1, "A", 1], [2, "B", 2], [4, "D", 4]],
    ),
    "every existing row left alone": (
        [(1, "Z", 99), (2, "Y", 98)],
        ["id"],
        ["id"],
        0,
        [],
        SEEDED,
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_upsert(resolver: Conformance, case: str) -> None:
    rows, conflict, update, affected, returned, after = CASES[case]
    upsert = pb.Upsert(
        rows=[row(id=i, sku=s, qty=q) for i, s, q in rows], conflict_columns=conflict, update_columns=update
    )
    assert await resolver.mutate("items", upsert=upsert, returning=COLUMNS) == (affected, returned)
    assert await _items(resolver) == after


async def test_a_conflict_on_another_unique_key_is_already_exists(resolver: Conformance) -> None:
    upsert = pb.Upsert(rows=[row(id=3, sku="A", qty=7)], conflict_columns=["id"], update_columns=["qty"])
    details = await expect_error(grpc.StatusCode.ALREADY_EXISTS, resolver.mutate("items", upsert=upsert))
    assert "'A'" not in details
    assert await _items(resolver) == SEEDED


async def test_conflict_columns_must_be_a_unique_key(resolver: Conformance) -> None:
    upsert = pb.Upsert(rows=[row(id=3, sku="C", qty=7)], conflict_columns=["qty"], update_columns=["sku"])
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.mutate("items", upsert=upsert))
    assert details == "an upsert into 'items': ['qty'] is not the primary key or a unique key of the table"
    assert await _items(resolver) == SEEDED
