"""A fallback list is tried in order; `[router] tracing` off / request / always is honoured."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness.mesh import InProcessMesh

SCHEMA = Path(__file__).with_name("fallback_chain_schema.py")


def _databases(folder: Path) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name in ("first", "second", "third"):
        conn = sqlite3.connect(folder / f"{name}.db")
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.execute("INSERT INTO items VALUES (1, ?)", (f"from {name}",))
        conn.commit()
        conn.close()
        out[name] = {"engine": "sqlite", "path": str(folder / f"{name}.db")}
    return out


@pytest.fixture
async def mesh(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[InProcessMesh]:
    tracing = getattr(request, "param", "request")
    mesh = await InProcessMesh(_databases(tmp_path), SCHEMA, {"tracing": tracing}).start()
    yield mesh
    await mesh.stop()


async def test_fallbacks_are_tried_in_order(mesh: InProcessMesh) -> None:
    await mesh.stop_resolver("first")
    await mesh.stop_resolver("second")
    body = await mesh.post("{ items { name sourceDatabase } }", extensions={"trace": True})
    assert body["data"]["items"] == [{"name": "from third", "sourceDatabase": "third"}]
    trace = body["extensions"]["trace"]
    assert [f["database"] for f in trace["failures"]] == ["first", "second"]
    assert [(r["database"], r["fallback_from"]) for r in trace["routes"]] == [("third", "first")]


async def test_every_fallback_down_is_one_error_naming_all(mesh: InProcessMesh) -> None:
    for name in ("first", "second", "third"):
        await mesh.stop_resolver(name)
    body = await mesh.post("{ items { name } }")
    assert body["data"] == {"items": None}
    assert len(body["errors"]) == 1
    assert body["errors"][0]["extensions"] == {
        "code": "DATABASE_UNAVAILABLE",
        "database": "third",
        "tried": ["first", "second", "third"],
    }


@pytest.mark.parametrize(
    ("mesh", "asked", "traced"),
    [
        ("off", True, False),
        ("request", False, False),
        ("request", True, True),
        ("always", False, True),
    ],
    indirect=["mesh"],
)
async def test_tracing_modes(mesh: InProcessMesh, asked: bool, traced: bool) -> None:
    extra = {"extensions": {"trace": True}} if asked else {}
    body = await mesh.post("{ items { id } }", **extra)
    assert ("trace" in body.get("extensions", {})) is traced
