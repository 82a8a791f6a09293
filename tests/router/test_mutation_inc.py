"""`updateX(inc:)` through the real HTTP router (docs/reference.md §10): amounts added to numeric
columns on SQLite, PostgreSQL and MariaDB, read back from the database itself; the refusals are
BAD_USER_INPUT naming the field, and a non-numeric column is not part of `CustomerInc`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_mutations import Mesh, _running


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def mesh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    async with _running(request.param, request, tmp_path) as running:
        yield running


async def test_inc_adds_to_the_matching_rows(mesh: Mesh) -> None:
    body = await mesh.post(
        """mutation { updateCustomers(where: {email: {_like: "%@example.com"}}, inc: {balance: -4}, set: {name: "Z"}) {
              affectedRows returning { email name balance } } }"""
    )
    returning = body["data"]["updateCustomers"]["returning"]
    assert body["data"]["updateCustomers"]["affectedRows"] == 2
    assert sorted(returning, key=lambda r: r["email"]) == [
        {"email": "ann@example.com", "name": "Z", "balance": 6},
        {"email": "bob@example.com", "name": "Z", "balance": 1},
    ]
    assert await mesh.customers() == [
        ("00000000-0000-4000-8000-000000000001", "ann@example.com", "Z", 6),
        ("00000000-0000-4000-8000-000000000002", "bob@example.com", "Z", 1),
    ]


async def test_inc_refusals(mesh: Mesh) -> None:
    before = await mesh.customers()
    cases = {
        '{email: {_eq: "ann@example.com"}}, set: {balance: 1}, inc: {balance: 1}': (
            "updateCustomers: column 'balance' is both in set and in inc; name it in one"
        ),
        '{email: {_eq: "ann@example.com"}}, inc: {balance: null}': (
            "updateCustomers: inc takes amounts to add, not null"
        ),
        '{email: {_eq: "ann@example.com"}}, inc: {}': "updateCustomers: set and inc name no column to change",
    }
    for arguments, message in cases.items():
        body = await mesh.post(f"mutation {{ updateCustomers(where: {arguments}) {{ affectedRows }} }}")
        assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [(message, "BAD_USER_INPUT")]
        assert body["data"] == {"updateCustomers": None}
    body = await mesh.post('mutation { updateCustomers(where: {email: {_eq: "x"}}, inc: {name: 1}) { affectedRows } }')
    assert body["errors"][0]["message"] == (
        "Expected value of type 'CustomerInc' not to include unknown field 'name', found: { name: 1 }."
    )
    assert await mesh.customers() == before
