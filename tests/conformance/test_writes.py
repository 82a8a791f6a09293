"""Writes (docs/reference.md §8): insert, upsert, update and delete with returning, in canonical values; a
predicate is required and bounds the write; constraint failures map to their gRPC codes; a
read-only database refuses every write. Each test starts from an empty `items` table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
import pytest_asyncio

from conformance.client import T, asc, cmp, expect_error, row
from conformance.conftest import Conformance, running_resolver
from conformance.dataset import COUNTS, PERSON
from dbmesh.resolver.v1 import resolver_pb2 as pb

ITEM_COLUMNS = ["id", "sku", "qty", "price", ("person_id", T.UUID), "updated_at", "flag", "doc"]


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def empty_items(resolver: Conformance) -> AsyncIterator[None]:
    await resolver.backend.execute("DELETE FROM items")
    yield
    await resolver.backend.execute("DELETE FROM items")
    assert {t: await resolver.backend.count(t) for t in COUNTS if t != "items"} == {
        t: n for t, n in COUNTS.items() if t != "items"
    }


async def _items(resolver: Conformance, columns: list[Any] | None = None) -> list[list[Any]]:
    return await resolver.rows("items", columns or ["id", "sku", "qty"], order_by=[asc("id")])


async def _seed(resolver: Conformance, *items: tuple[int, str, int]) -> None:
    affected, _ = await resolver.mutate("items", insert=[row(id=i, sku=s, qty=q) for i, s, q in items])
    assert affected == len(items)


async def test_insert_returning_canonical_values(resolver: Conformance) -> None:
    rows = [
        row(
            id=1,
            sku="A-1 ü",
            qty=3,
            price=Decimal("19.90"),
            person_id=pb.Value(uuid=str(PERSON["zoe"]).upper()),
            updated_at=pb.Value(datetime="2024-01-02T03:04:05+01:00"),
            flag=True,
            doc={"k": [1, "ü"], "n": None},
        ),
        row(id=2, sku="b-2", qty=0, price=None, person_id=None, updated_at=None, flag=False, doc=None),
    ]
    affected, returned = await resolver.mutate("items", insert=rows, returning=ITEM_COLUMNS)
    expected = [
        [1, "A-1 ü", 3, "19.90", str(PERSON["zoe"]), "2024-01-02T02:04:05Z", True, {"k": [1, "ü"], "n": None}],
        [2, "b-2", 0, None, None, None, False, None],
    ]
    assert affected == 2
    assert sorted(returned) == expected
    assert await _items(resolver, ITEM_COLUMNS) == expected
    # A UUID is stored in its one canonical form, whatever the column type, so that keys join.
    stored = await resolver.backend.fetch("SELECT person_id FROM items WHERE id = 1")
    assert str(stored[0][0]) == str(PERSON["zoe"])


async def test_insert_without_returning(resolver: Conformance) -> None:
    affected, returned = await resolver.mutate("items", insert=[row(id=i, sku=f"s{i}", qty=i) for i in range(1, 51)])
    assert (affected, returned) == (50, [])
    assert await resolver.backend.count("items") == 50


async def test_upsert_inserts_then_updates(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1))
    upsert = pb.Upsert(rows=[row(id=1, sku="A", qty=5), row(id=2, sku="B", qty=7)])
    affected, returned = await resolver.mutate("items", upsert=upsert, returning=["id", "sku", "qty"])
    assert affected == 2
    assert sorted(returned) == [[1, "A", 5], [2, "B", 7]]
    assert await _items(resolver) == [[1, "A", 5], [2, "B", 7]]


async def test_upsert_on_a_unique_key_updating_some_columns(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1), (2, "B", 2))
    upsert = pb.Upsert(rows=[row(id=9, sku="A", qty=100)], conflict_columns=["sku"], update_columns=["qty"])
    affected, returned = await resolver.mutate("items", upsert=upsert, returning=["id", "sku", "qty"])
    assert affected == 1
    assert returned == [[1, "A", 100]]
    assert await _items(resolver) == [[1, "A", 100], [2, "B", 2]]


async def test_upsert_of_an_identical_row_counts_it(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1))
    affected, returned = await resolver.mutate(
        "items", upsert=pb.Upsert(rows=[row(id=1, sku="A", qty=1)]), returning=["id", "qty"]
    )
    assert (affected, returned) == (1, [[1, 1]])


async def test_update_returning(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1), (2, "B", 2), (3, "C", 3))
    update = pb.Update(
        predicate=cmp("sku", "in", ["A", "C"]), set={"qty": pb.Value(int=10), "price": pb.Value(decimal="1.5")}
    )
    affected, returned = await resolver.mutate("items", update=update, returning=["id", "qty", "price"])
    assert affected == 2
    assert sorted(returned) == [[1, 10, "1.50"], [3, 10, "1.50"]]
    assert await _items(resolver) == [[1, "A", 10], [2, "B", 2], [3, "C", 10]]


async def test_writes_match_text_exactly(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1), (2, "Zoë", 2))
    for predicate in (cmp("sku", "eq", "a"), cmp("sku", "in", ["a", "Zoe"]), cmp("sku", "like", "zo%")):
        update = pb.Update(predicate=predicate, set={"qty": pb.Value(int=20)})
        assert await resolver.mutate("items", update=update, returning=["id"]) == (0, [])
        assert await resolver.mutate("items", delete=pb.Delete(predicate=predicate), returning=["id"]) == (0, [])
    update = pb.Update(predicate=cmp("sku", "ilike", "zoË"), set={"qty": pb.Value(int=20)})
    assert await resolver.mutate("items", update=update, returning=["id", "sku", "qty"]) == (1, [[2, "Zoë", 20]])
    assert await _items(resolver) == [[1, "A", 1], [2, "Zoë", 20]]


async def test_delete_returning(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1), (2, "B", 2), (3, "C", 3))
    affected, returned = await resolver.mutate(
        "items", delete=pb.Delete(predicate=cmp("qty", "gte", 2)), returning=["id", "sku"]
    )
    assert affected == 2
    assert sorted(returned) == [[2, "B"], [3, "C"]]
    assert await _items(resolver) == [[1, "A", 1]]


async def test_a_predicate_matching_nothing_changes_nothing(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1), (2, "B", 2))
    nothing = cmp("sku", "eq", "b")
    update = pb.Update(predicate=nothing, set={"qty": pb.Value(int=99)})
    assert await resolver.mutate("items", update=update, returning=["id"]) == (0, [])
    assert await resolver.mutate("items", update=update) == (0, [])
    assert await resolver.mutate("items", delete=pb.Delete(predicate=nothing), returning=["id"]) == (0, [])
    assert await resolver.mutate("items", delete=pb.Delete(predicate=cmp("id", "in", []))) == (0, [])
    assert await _items(resolver) == [[1, "A", 1], [2, "B", 2]]


async def test_update_or_delete_without_predicate_is_refused(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1))
    update = pb.Update(set={"qty": pb.Value(int=0)})
    await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.mutate("items", update=update))
    await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.mutate("items", delete=pb.Delete()))
    assert await _items(resolver) == [[1, "A", 1]]


async def test_writes_to_a_view_are_refused(resolver: Conformance) -> None:
    call = resolver.mutate("big_orders", delete=pb.Delete(predicate=cmp("id", "eq", 2)))
    assert "big_orders" in await expect_error(grpc.StatusCode.INVALID_ARGUMENT, call)


async def test_unique_violations_are_already_exists(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1), (2, "B", 2))
    for call in (
        lambda: resolver.mutate("items", insert=[row(id=1, sku="Z", qty=0)]),
        lambda: resolver.mutate("items", insert=[row(id=3, sku="A", qty=0)]),
        lambda: resolver.mutate("items", insert=[row(id=4, sku="D", qty=0), row(id=2, sku="E", qty=0)]),
        lambda: resolver.mutate(
            "items", update=pb.Update(predicate=cmp("id", "eq", 2), set={"sku": pb.Value(string="A")})
        ),
    ):
        await expect_error(grpc.StatusCode.ALREADY_EXISTS, call())
    assert await _items(resolver) == [[1, "A", 1], [2, "B", 2]]


async def test_foreign_key_and_not_null_violations_are_failed_precondition(resolver: Conformance) -> None:
    await _seed(resolver, (1, "A", 1))
    stranger = uuid.UUID("00000000-0000-4000-8000-00000000dead")
    for call in (
        lambda: resolver.mutate("items", insert=[row(id=2, sku="B", qty=1, person_id=stranger)]),
        lambda: resolver.mutate(
            "items", update=pb.Update(predicate=cmp("id", "eq", 1), set={"person_id": pb.Value(uuid=str(stranger))})
        ),
        lambda: resolver.mutate("people", delete=pb.Delete(predicate=cmp("name", "eq", "Zoë"))),
        lambda: resolver.mutate("items", insert=[row(id=2, sku="B", qty=None)]),
        lambda: resolver.mutate("items", insert=[row(id=2, sku="B")]),
        lambda: resolver.mutate(
            "items", update=pb.Update(predicate=cmp("id", "eq", 1), set={"qty": pb.Value(null=True)})
        ),
    ):
        await expect_error(grpc.StatusCode.FAILED_PRECONDITION, call())
    assert await _items(resolver) == [[1, "A", 1]]


async def test_a_bad_value_is_invalid_argument(resolver: Conformance) -> None:
    for call in (
        lambda: resolver.mutate("items", insert=[row(id=1, sku="A", qty="many")]),
        lambda: resolver.mutate("items", insert=[row(id=1, sku="A", qty=1, doc=pb.Value(json="{nope"))]),
    ):
        await expect_error(grpc.StatusCode.INVALID_ARGUMENT, call())
    assert await _items(resolver) == []


async def test_a_read_only_database_refuses_writes(resolver: Conformance) -> None:
    async with running_resolver(resolver.backend, read_only=True) as read_only:
        capabilities = await read_only.capabilities()
        assert capabilities.read_only
        assert not capabilities.two_phase_commit
        assert await read_only.rows("people", ["name"], where=cmp("name", "eq", "Zoë")) == [["Zoë"]]
        for call in (
            lambda: read_only.mutate("items", insert=[row(id=1, sku="A", qty=1)]),
            lambda: read_only.mutate("items", upsert=pb.Upsert(rows=[row(id=1, sku="A", qty=1)])),
            lambda: read_only.mutate(
                "people", update=pb.Update(predicate=cmp("age", "gt", 0), set={"age": pb.Value(int=1)})
            ),
            lambda: read_only.mutate("orders", delete=pb.Delete(predicate=cmp("id", "gt", 0))),
            lambda: read_only.begin(),
            lambda: read_only.begin("read-only-gid"),
        ):
            await expect_error(grpc.StatusCode.PERMISSION_DENIED, call())
    assert await _items(resolver) == []
