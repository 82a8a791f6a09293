"""Int is a signed 32-bit integer (GraphQL spec, "Int"): values outside it are errors, in
arguments (refused before any fetch) and in results (a field error, nulling per the spec), never
a silent 64-bit Int. Real SQLite resolver, real HTTP router."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness.mesh import InProcessMesh

SCHEMA = Path(__file__).with_name("int_range_schema.py")
BIG = 2**31


@pytest.fixture(scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    path = tmp_path_factory.mktemp("int") / "store.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, hits INTEGER NOT NULL, peak INTEGER)")
    conn.executemany(
        "INSERT INTO counters VALUES (?, ?, ?)",
        [("a", BIG - 1, -(2**31)), ("b", 7, BIG), ("c", BIG, 1)],
    )
    conn.commit()
    conn.close()
    running = await InProcessMesh({"store": {"engine": "sqlite", "path": str(path)}}, SCHEMA).start()
    yield running
    await running.stop()


async def test_results_inside_32_bits_are_served(mesh: InProcessMesh) -> None:
    body = await mesh.post("{ counters(limit: 1) { name hits peak } }")
    assert body == {"data": {"counters": [{"name": "a", "hits": BIG - 1, "peak": -(2**31)}]}}


async def test_a_nullable_int_outside_32_bits_is_null_with_an_error(mesh: InProcessMesh) -> None:
    body = await mesh.post("{ counters { name peak } }")
    assert body["data"]["counters"][1] == {"name": "b", "peak": None}
    assert [(e["message"], e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (
            f"Int cannot represent non 32-bit signed integer value: {BIG}",
            ["counters", 1, "peak"],
            "INTERNAL_SERVER_ERROR",
        )
    ]


async def test_a_non_null_int_outside_32_bits_nulls_its_parent(mesh: InProcessMesh) -> None:
    # Counter items are non-null, so the null propagates to the (nullable) list field itself.
    body = await mesh.post("{ counters { name hits } }")
    assert body["data"] == {"counters": None}
    assert [(e["message"], e["path"]) for e in body["errors"]] == [
        (f"Int cannot represent non 32-bit signed integer value: {BIG}", ["counters", 2, "hits"])
    ]


async def test_an_int_argument_outside_32_bits_is_refused(mesh: InProcessMesh) -> None:
    literal = await mesh.post("{ counters(limit: 3000000000) { name } }")
    assert "data" not in literal
    assert literal["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert literal["errors"][0]["message"] == "Int cannot represent non 32-bit signed integer value: 3000000000"
    variable = await mesh.post("query($n: Int) { counters(limit: $n) { name } }", {"n": BIG})
    assert "data" not in variable
    assert variable["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert variable["errors"][0]["message"] == (
        f"Variable '$n' has invalid value: Int cannot represent non 32-bit signed integer value: {BIG}"
    )
