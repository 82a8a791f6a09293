"""Decimals in requests are bounded before anything expands them (docs/reference.md §8): a hostile
`1e999999999` or `1e-999999999` (a few bytes, a billion digits written out) in a predicate, a
variable set or a written value is INVALID_ARGUMENT naming the column, at once, and the resolver
does not grow; ordinary decimals keep working. On every engine, through a real resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
import pytest
import pytest_asyncio

from conformance.client import asc, cmp, expect_error, var
from conformance.conftest import Conformance, module_backend, running_resolver
from dbmesh.resolver.v1 import resolver_pb2 as pb

# `exact` is NUMERIC(10, 2) everywhere; `free` is as unconstrained as each engine allows (MySQL has
# no unconstrained DECIMAL: DECIMAL(65, 30) is its widest).
DDL = {
    "postgresql": (
        "CREATE TABLE amounts (id integer PRIMARY KEY, exact numeric(10,2), free numeric, label text, n integer)"
    ),
    "mysql": (
        "CREATE TABLE amounts (id INT PRIMARY KEY, exact DECIMAL(10,2), free DECIMAL(65,30), label VARCHAR(50), n INT)"
        " ENGINE=InnoDB"
    ),
    "sqlite": "CREATE TABLE amounts (id INTEGER PRIMARY KEY, exact DECIMAL(10,2), free NUMERIC, label TEXT, n INTEGER)",
}
HUGE = "1e999999999"
TINY = "1e-999999999"
# What a request may carry whatever the column (services/values.py).
LIMIT = 1000
RSS_GROWTH_LIMIT_KB = 50 * 1024


@pytest_asyncio.fixture(scope="module", params=sorted(DDL), loop_scope="session")
async def amounts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Conformance]:
    backend = await module_backend(request.param, request, tmp_path_factory)
    try:
        await backend.execute(DDL[backend.engine])
        await backend.execute("INSERT INTO amounts (id, exact, free, label, n) VALUES (1, 12.5, 7, 'seven', 7)")
        async with running_resolver(backend) as client:
            yield client
    finally:
        await backend.close()


def _decimal(text: str) -> pb.Value:
    return pb.Value(decimal=text)


async def _db_types(client: Conformance) -> dict[str, str]:
    schema = await client.schema()
    (amounts,) = [c for c in schema.collections if c.name == "amounts"]
    return {c.name: c.db_type for c in amounts.columns}


def _expected(client: Conformance, column: str, db_type: str, text: str) -> str:
    """The message refusing decimal `text` for `column`."""
    shown = str(Decimal(text))
    where = f"column {column!r} ({db_type}): decimal {shown!r}"
    if text == TINY:
        return f"{where} has 999999999 digits after the point, more than a request may carry ({LIMIT})"
    holds = {"exact": 8, "free": 35 if client.engine == "mysql" else None}.get(column)
    if holds is not None:
        return f"{where} has 1000000000 digits before the point, more than the column holds ({holds})"
    return f"{where} has 1000000000 digits before the point, more than a request may carry ({LIMIT})"


def _hostile_calls(client: Conformance, column: str, text: str) -> list[Any]:
    """Every way a decimal reaches a resolver: predicate operands (one value, a list), a variable
    set, an inserted row, an upsert, an update's new value."""
    value = _decimal(text)
    key = pb.Value(int=2)
    row = pb.Row(values={"id": key, column: value})
    return [
        lambda: client.rows("amounts", ["id"], where=cmp(column, "eq", value)),
        lambda: client.rows("amounts", ["id"], where=cmp(column, "gt", value)),
        lambda: client.rows("amounts", ["id"], where=cmp(column, "in", [value])),
        lambda: client.query("amounts", ["id"], where=cmp(column, "eq", var("v")), variables=[{"v": value}]),
        lambda: client.mutate("amounts", insert=[row]),
        lambda: client.mutate("amounts", upsert=pb.Upsert(rows=[row])),
        lambda: client.mutate("amounts", update=pb.Update(predicate=cmp("id", "eq", 1), set={column: value})),
    ]


def _rss_kb() -> int:
    """The resolver's resident memory: it serves in this process (conformance.conftest)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.parametrize("column", ["exact", "free", "label", "n"])
async def test_hostile_decimals_are_refused_without_growing(amounts: Conformance, column: str) -> None:
    db_types = await _db_types(amounts)
    before = _rss_kb()
    for text in (HUGE, TINY):
        for call in _hostile_calls(amounts, column, text):
            details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, call())
            assert details == _expected(amounts, column, db_types[column], text)
    assert _rss_kb() - before < RSS_GROWTH_LIMIT_KB
    assert await amounts.backend.count("amounts") == 1


async def test_ordinary_decimals_keep_working(amounts: Conformance) -> None:
    rows = [
        pb.Row(values={"id": pb.Value(int=2), "exact": _decimal("12.50"), "free": _decimal("1e2")}),
        pb.Row(values={"id": pb.Value(int=3), "exact": _decimal("-0.5"), "free": _decimal("-0.001")}),
    ]
    try:
        affected, _ = await amounts.mutate("amounts", insert=rows)
        assert affected == 2
        found = await amounts.rows("amounts", ["id"], where=cmp("exact", "eq", _decimal("12.50")), order_by=[asc("id")])
        assert found == [[1], [2]]
        stored = await amounts.rows("amounts", ["id", "exact", "free"], order_by=[asc("id")])
        assert [[i, e, Decimal(f)] for i, e, f in stored] == [
            [1, "12.50", Decimal(7)],
            [2, "12.50", Decimal(100)],
            [3, "-0.50", Decimal("-0.001")],
        ]
        by_set = await amounts.query(
            "amounts",
            ["id"],
            where=cmp("free", "eq", var("v")),
            variables=[{"v": _decimal("1e2")}, {"v": _decimal("-0.001")}, {"v": _decimal("5")}],
        )
        assert by_set == [[[2]], [[3]], []]
    finally:
        await amounts.backend.execute("DELETE FROM amounts WHERE id > 1")


async def test_too_many_significant_digits(amounts: Conformance) -> None:
    db_type = (await _db_types(amounts))["free"]
    text = "1" * 1500 + ".5"
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, amounts.rows("amounts", ["id"], where=cmp("free", "eq", _decimal(text)))
    )
    assert details == (
        f"column 'free' ({db_type}): decimal '{'1' * 20}... (1501 digits, exponent -1)' has 1501 significant"
        f" digits, more than a request may carry ({LIMIT})"
    )
