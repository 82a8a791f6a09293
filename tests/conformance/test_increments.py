"""Updates with `inc` (docs/reference.md §8, §10): `col = col + amount` on integer, decimal and
float columns, with bound amounts, the same rows and values on every engine; NULL plus an amount
stays NULL; set and inc together in one update; the refusals name the column."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import pytest_asyncio

from conformance.client import asc, cmp, expect_error, row
from conformance.conftest import Conformance
from conformance.dataset import PERSON
from dbmesh.resolver.v1 import resolver_pb2 as pb


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def seeded_items(resolver: Conformance) -> AsyncIterator[None]:
    await resolver.backend.execute("DELETE FROM items")
    rows = [
        row(id=1, sku="A", qty=1, price=Decimal("10.00")),
        row(id=2, sku="B", qty=5, price=None),
        row(id=3, sku="C", qty=7, price=Decimal("0.10")),
    ]
    affected, _ = await resolver.mutate("items", insert=rows)
    assert affected == 3
    yield
    await resolver.backend.execute("DELETE FROM items")


async def _items(resolver: Conformance) -> list[list[object]]:
    return await resolver.rows("items", ["id", "qty", "price"], order_by=[asc("id")])


async def test_inc_adds_to_int_and_decimal_columns(resolver: Conformance) -> None:
    update = pb.Update(
        predicate=cmp("id", "in", [1, 2]), inc={"qty": pb.Value(int=-3), "price": pb.Value(decimal="2.55")}
    )
    affected, returned = await resolver.mutate("items", update=update, returning=["id", "qty", "price"])
    assert affected == 2
    assert sorted(returned) == [[1, -2, "12.55"], [2, 2, None]]  # NULL + 2.55 stays NULL
    assert await _items(resolver) == [[1, -2, "12.55"], [2, 2, None], [3, 7, "0.10"]]


async def test_inc_twice_adds_twice(resolver: Conformance) -> None:
    update = pb.Update(predicate=cmp("id", "eq", 3), inc={"qty": pb.Value(int=10)})
    for _ in range(2):
        assert await resolver.mutate("items", update=update) == (1, [])
    assert await _items(resolver) == [[1, 1, "10.00"], [2, 5, None], [3, 27, "0.10"]]


async def test_set_and_inc_in_one_update(resolver: Conformance) -> None:
    update = pb.Update(
        predicate=cmp("sku", "eq", "A"), set={"price": pb.Value(decimal="1.00")}, inc={"qty": pb.Value(int=100)}
    )
    affected, returned = await resolver.mutate("items", update=update, returning=["id", "qty", "price"])
    assert (affected, returned) == (1, [[1, 101, "1.00"]])


async def test_inc_on_a_float_column(resolver: Conformance) -> None:
    zoe = cmp("id", "eq", pb.Value(uuid=str(PERSON["zoe"])))
    try:
        update = pb.Update(predicate=zoe, inc={"score": pb.Value(float=0.25)})
        assert await resolver.mutate("people", update=update, returning=["score"]) == (1, [[1.75]])
    finally:
        update = pb.Update(predicate=zoe, inc={"score": pb.Value(float=-0.25)})
        assert await resolver.mutate("people", update=update, returning=["score"]) == (1, [[1.5]])


async def test_inc_refusals_name_the_column(resolver: Conformance) -> None:
    one = cmp("id", "eq", 1)
    cases = {
        "inc of items.sku: the column is string, not a number": pb.Update(predicate=one, inc={"sku": pb.Value(int=1)}),
        "inc of items.qty needs a number, not null": pb.Update(predicate=one, inc={"qty": pb.Value(null=True)}),
        "an update of 'items' both sets and increments 'qty'": pb.Update(
            predicate=one, set={"qty": pb.Value(int=1)}, inc={"qty": pb.Value(int=1)}
        ),
        "an update of 'items' needs columns to set or increment": pb.Update(predicate=one),
    }
    for message, update in cases.items():
        details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.mutate("items", update=update))
        assert details == message
    assert await _items(resolver) == [[1, 1, "10.00"], [2, 5, None], [3, 7, "0.10"]]
