"""Hostile input (docs/reference.md §8): identifiers are checked against the introspected schema, so an unknown
one (however it is spelled) is INVALID_ARGUMENT naming it and no SQL is built from it; values are
always bound, so SQL in a value is just text. After every test every table is intact."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from conformance.client import asc, cmp, expect_error, row, var
from conformance.conftest import Conformance
from conformance.dataset import COUNTS, PERSON, SNIPPETS
from dbmesh.resolver.v1 import resolver_pb2 as pb

IDENTIFIERS = [
    'name"; DROP TABLE people; --',
    "name`",
    "name/*x*/",
    "people; DELETE FROM orders",
    "name' OR '1'='1",
    "name]",
    "name -- ",
    "NAME",
    "people.name",
    "",
]
VALUES = [
    "'; DROP TABLE people; --",
    "\\' OR 1=1 --",
    "' OR '1'='1",
    '" OR ""="',
    "\\",
    "%",
    "_",
    "`people`",
    "$1",
    "%s",
    "?",
    "%(p1)s",
    "/*",
    "\x01\x02\x1b[31m\t\r\n",
]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def tables_intact(resolver: Conformance) -> AsyncIterator[None]:
    yield
    counts = {table: await resolver.backend.count(table) for table in COUNTS}
    assert counts == COUNTS


@pytest.mark.parametrize("identifier", IDENTIFIERS)
async def test_hostile_collection(resolver: Conformance, identifier: str) -> None:
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.rows(identifier, ["id"]))
    assert identifier in details


@pytest.mark.parametrize("identifier", IDENTIFIERS)
async def test_hostile_column(resolver: Conformance, identifier: str) -> None:
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.rows("people", ["id", identifier]))
    assert identifier in details


@pytest.mark.parametrize("identifier", IDENTIFIERS)
async def test_hostile_order_column(resolver: Conformance, identifier: str) -> None:
    call = resolver.rows("people", ["id"], order_by=[asc(identifier)])
    assert identifier in await expect_error(grpc.StatusCode.INVALID_ARGUMENT, call)


@pytest.mark.parametrize("identifier", IDENTIFIERS)
async def test_hostile_predicate_column(resolver: Conformance, identifier: str) -> None:
    call = resolver.rows("people", ["id"], where=cmp(identifier, "eq", "x"))
    assert identifier in await expect_error(grpc.StatusCode.INVALID_ARGUMENT, call)


@pytest.mark.parametrize("identifier", IDENTIFIERS)
async def test_hostile_returning_column(resolver: Conformance, identifier: str) -> None:
    call = resolver.mutate("items", insert=[row(id=1, sku="x", qty=1)], returning=["id", identifier])
    assert identifier in await expect_error(grpc.StatusCode.INVALID_ARGUMENT, call)


@pytest.mark.parametrize("identifier", IDENTIFIERS)
async def test_hostile_write_identifiers(resolver: Conformance, identifier: str) -> None:
    calls = [
        lambda: resolver.mutate(identifier, insert=[row(id=1)]),
        lambda: resolver.mutate(
            "items", insert=[pb.Row(values={"id": pb.Value(int=1), identifier: pb.Value(string="x")})]
        ),
        lambda: resolver.mutate(
            "items", update=pb.Update(predicate=cmp("id", "eq", 1), set={identifier: pb.Value(int=1)})
        ),
        lambda: resolver.mutate("items", delete=pb.Delete(predicate=cmp(identifier, "eq", 1))),
        lambda: resolver.mutate(
            "items",
            upsert=pb.Upsert(rows=[row(id=1, sku="x", qty=1)], conflict_columns=[identifier]),
        ),
        lambda: resolver.mutate(
            "items",
            upsert=pb.Upsert(rows=[row(id=1, sku="x", qty=1)], update_columns=[identifier]),
        ),
    ]
    for call in calls:
        assert identifier in await expect_error(grpc.StatusCode.INVALID_ARGUMENT, call())


@pytest.mark.parametrize("text", VALUES)
async def test_hostile_value_is_just_text(resolver: Conformance, text: str) -> None:
    expected = [[i] for i, body in SNIPPETS if body == text]
    assert await resolver.rows("snippets", ["id"], where=cmp("body", "eq", text), order_by=[asc("id")]) == expected
    assert await resolver.rows("people", ["id"], where=cmp("name", "eq", text)) == []
    assert await resolver.rows("people", ["id"], where=cmp("name", "in", [text, text + "x"])) == []


@pytest.mark.parametrize(("snippet_id", "body"), SNIPPETS)
async def test_escaped_like_matches_exactly(resolver: Conformance, snippet_id: int, body: str) -> None:
    """Every stored text, with `\\`, `%` and `_` escaped, is a LIKE pattern matching just itself
    (and, with `_ilike`, just the texts equal to it ignoring case)."""
    pattern = _like_escape(body)
    same = await resolver.rows("snippets", ["id"], where=cmp("body", "like", pattern), order_by=[asc("id")])
    assert same == [[snippet_id]]
    folded = await resolver.rows("snippets", ["id"], where=cmp("body", "ilike", pattern), order_by=[asc("id")])
    assert folded == [[i] for i, b in SNIPPETS if b.lower() == body.lower()]
    contains = await resolver.rows("snippets", ["id"], where=cmp("body", "like", f"%{pattern}%"), order_by=[asc("id")])
    assert contains == [[i] for i, b in SNIPPETS if body in b]


async def test_hostile_values_round_trip_through_writes(resolver: Conformance) -> None:
    rows = [row(id=i, sku=text, qty=i) for i, text in enumerate(VALUES, start=1)]
    try:
        affected, returned = await resolver.mutate("items", insert=rows, returning=["id", "sku"])
        assert affected == len(VALUES)
        assert sorted(returned) == [[i, text] for i, text in enumerate(VALUES, start=1)]
        stored = await resolver.rows("items", ["id", "sku"], order_by=[asc("id")])
        assert stored == [[i, text] for i, text in enumerate(VALUES, start=1)]
        for i, text in enumerate(VALUES, start=1):
            assert await resolver.rows("items", ["id"], where=cmp("sku", "eq", text)) == [[i]]
        affected, _ = await resolver.mutate("items", delete=pb.Delete(predicate=cmp("sku", "in", VALUES)))
        assert affected == len(VALUES)
    finally:
        await resolver.backend.execute("DELETE FROM items")


async def test_hostile_transaction_and_global_ids(resolver: Conformance) -> None:
    for hostile in ("x'; ROLLBACK; --", "a b", "x" * 65, "gid`"):
        await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.commit(global_id=hostile))
        await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.rollback(global_id=hostile))
    call = resolver.rows("people", ["id"], transaction_id="'; DROP TABLE people; --")
    await expect_error(grpc.StatusCode.NOT_FOUND, call)


async def test_hostile_variable_names_are_just_names(resolver: Conformance) -> None:
    name = "p'); DROP TABLE orders; --"
    row_sets = await resolver.query(
        "orders",
        ["id"],
        where=cmp("person_id", "eq", var(name)),
        order_by=[asc("id")],
        variables=[{name: PERSON["abc"]}, {name: PERSON["bob"]}],
    )
    assert row_sets == [[[4], [5], [10]], [[8]]]
