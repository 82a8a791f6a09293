"""GraphQL mutations through the real HTTP router over real resolvers (docs/reference.md §10):
the tests' schema is tests/router/mutation_schema.py, its tables tests/router/mutation_tables.py,
on SQLite, PostgreSQL and MariaDB (database `main`) with a SQLite `ledger`. What each operation
left behind is read from the database itself, not through dbmesh."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.mesh import InProcessMesh
from mutation_tables import Tables

from dbmesh.config import parse_config
from dbmesh.errors import SchemaError
from dbmesh.router import Router
from dbmesh.schema import load_schema

SCHEMA = Path(__file__).with_name("mutation_schema.py")
ANN = "00000000-0000-4000-8000-000000000001"
BOB = "00000000-0000-4000-8000-000000000002"
CAT = "00000000-0000-4000-8000-000000000003"
ORDER = "00000000-0000-4000-8000-0000000000a1"
STRANGER = "00000000-0000-4000-8000-00000000dead"

SEED = f"""mutation {{ insertCustomers(objects: [
  {{id: "{ANN}", email: "ann@example.com", name: "Ann", balance: 10}},
  {{id: "{BOB}", email: "bob@example.com", balance: 5}}]) {{ affectedRows }} }}"""


TRANSFER = (
    'mutation { updateCustomers(where: {email: {_eq: "bob@example.com"}}, set: {balance: 0}) { affectedRows }'
    f' insertEntries(objects: [{{id: "{ORDER}", account: "bob", amount: "5"}}]) {{ affectedRows }} }}'
)


def _lower(value: Any) -> Any:
    return str(value).lower() if value is not None else None


class Mesh:
    def __init__(self, mesh: InProcessMesh, main: Tables, ledger: Tables) -> None:
        self.mesh = mesh
        self.main = main
        self.ledger = ledger

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.mesh.post(query, variables)

    async def customers(self) -> list[tuple[Any, ...]]:
        rows = await self.main.run("SELECT id, email, name, balance FROM customers ORDER BY email")
        return [(_lower(r[0]), r[1], r[2], int(r[3])) for r in rows]


@contextlib.asynccontextmanager
async def _running(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    """A mesh whose `main` is on `engine`, seeded with Ann and Bob; `ledger` is SQLite."""
    if engine == "sqlite":
        main = Tables.sqlite(tmp_path / "main.db")
    else:
        main = Tables.server(request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database"))
    ledger = Tables.sqlite(tmp_path / "ledger.db")
    await main.create()
    await ledger.create()
    running = await InProcessMesh({"main": main.settings, "ledger": ledger.settings}, SCHEMA).start()
    try:
        seeded = await running.post(SEED)
        assert seeded == {"data": {"insertCustomers": {"affectedRows": 2}}}
        yield Mesh(running, main, ledger)
    finally:
        await running.stop()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def mesh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    async with _running(request.param, request, tmp_path) as running:
        yield running


@pytest.fixture(params=["postgresql", "mysql"])
async def server_mesh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    """`main` on a server that can prepare, so it and the SQLite `ledger` can be one transaction."""
    async with _running(request.param, request, tmp_path) as running:
        yield running


@pytest.fixture
async def sqlite_mesh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    async with _running("sqlite", request, tmp_path) as running:
        yield running


async def test_insert_with_returning_and_a_relation(mesh: Mesh) -> None:
    body = await mesh.post(
        f"""mutation {{ insertOrders(objects: [{{id: "{ORDER}", customerId: "{ANN}", total: "12.50"}}]) {{
              affectedRows returning {{ id total customer {{ email orders {{ total }} }} }} }} }}"""
    )
    assert body == {
        "data": {
            "insertOrders": {
                "affectedRows": 1,
                "returning": [
                    {
                        "id": ORDER,
                        "total": "12.50",
                        "customer": {"email": "ann@example.com", "orders": [{"total": "12.50"}]},
                    }
                ],
            }
        }
    }
    assert [(_lower(r[0]), _lower(r[1])) for r in await mesh.main.run("SELECT id, customer_id FROM orders")] == [
        (ORDER, ANN)
    ]


async def test_update_and_delete_with_returning(mesh: Mesh) -> None:
    body = await mesh.post(
        """mutation { updateCustomers(where: {email: {_eq: "bob@example.com"}}, set: {name: "Bob", balance: 7}) {
              affectedRows returning { email name balance } }
            deleteCustomers(where: {email: {_eq: "ann@example.com"}}) { affectedRows returning { id name } } }"""
    )
    assert body == {
        "data": {
            "updateCustomers": {
                "affectedRows": 1,
                "returning": [{"email": "bob@example.com", "name": "Bob", "balance": 7}],
            },
            "deleteCustomers": {"affectedRows": 1, "returning": [{"id": ANN, "name": "Ann"}]},
        }
    }
    assert await mesh.customers() == [(BOB, "bob@example.com", "Bob", 7)]


async def test_upsert_updates_existing_rows_and_update_nothing_leaves_them(mesh: Mesh) -> None:
    upsert = """mutation($update: [CustomerColumn!]!) { insertCustomers(
          objects: [{id: "%s", email: "ann@example.com", name: "Annie", balance: 1},
                    {id: "%s", email: "cat@example.com", name: "Cat", balance: 3}],
          onConflict: {columns: [email], update: $update}) { affectedRows returning { email name } } }""" % (
        STRANGER,
        CAT,
    )
    nothing = await mesh.post(upsert, {"update": []})
    assert nothing == {
        "data": {"insertCustomers": {"affectedRows": 1, "returning": [{"email": "cat@example.com", "name": "Cat"}]}}
    }
    updated = await mesh.post(
        upsert.replace(CAT, "00000000-0000-4000-8000-000000000004").replace("cat@", "dan@"), {"update": ["name"]}
    )
    assert updated["data"]["insertCustomers"] == {
        "affectedRows": 2,
        "returning": [{"email": "ann@example.com", "name": "Annie"}, {"email": "dan@example.com", "name": "Cat"}],
    }
    assert [c[:3] for c in await mesh.customers()] == [
        (ANN, "ann@example.com", "Annie"),
        (BOB, "bob@example.com", None),
        (CAT, "cat@example.com", "Cat"),
        ("00000000-0000-4000-8000-000000000004", "dan@example.com", "Cat"),
    ]


UNIQUE = {
    "sqlite": "database 'main': UNIQUE constraint failed: customers.email",
    "postgresql": "database 'main': unique constraint 'customers_email_key' on table 'customers' violated",
    "mysql": "database 'main': unique constraint 'customers_email_key' violated",
}
FOREIGN_KEY = {
    "sqlite": "database 'main': FOREIGN KEY constraint failed",
    "postgresql": "database 'main': foreign key constraint 'orders_customer_fk' on table 'orders' violated",
    "mysql": "database 'main': foreign key constraint 'orders_customer_fk' violated",
}


def _error(message: str, path: str, code: str, line: int, column: int, database: str | None = None) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": code}
    if database:
        extensions["database"] = database
    return {
        "message": message,
        "locations": [{"line": line, "column": column}],
        "path": [path],
        "extensions": extensions,
    }


async def test_a_failing_second_field_rolls_back_the_first(mesh: Mesh) -> None:
    before = await mesh.customers()
    body = await mesh.post(
        f"""mutation {{ a: insertCustomers(objects: [{{id: "{CAT}", email: "cat@example.com", balance: 0}}])
    {{ affectedRows }}
  b: insertCustomers(objects: [{{id: "{STRANGER}", email: "ann@example.com", balance: 0}}]) {{ affectedRows }}
  c: deleteCustomers(where: {{email: {{_eq: "bob@example.com"}}}}) {{ affectedRows }} }}"""
    )
    aborted = "not applied: the operation's transaction was rolled back because b failed"
    assert body == {
        "errors": [
            _error(aborted, "a", "TRANSACTION_ABORTED", 1, 12),
            _error(UNIQUE[mesh.main.engine], "b", "CONSTRAINT_VIOLATION", 3, 3, "main"),
            _error(aborted, "c", "TRANSACTION_ABORTED", 4, 3),
        ],
        "data": {"a": None, "b": None, "c": None},
    }
    assert "ann@example.com" not in body["errors"][1]["message"]
    assert await mesh.customers() == before


async def test_a_foreign_key_violation_names_the_constraint(mesh: Mesh) -> None:
    body = await mesh.post(
        f'mutation {{ insertOrders(objects: [{{id: "{ORDER}", customerId: "{STRANGER}", total: "1"}}])'
        " { affectedRows } }"
    )
    assert body["errors"] == [
        _error(FOREIGN_KEY[mesh.main.engine], "insertOrders", "CONSTRAINT_VIOLATION", 1, 12, "main")
    ]
    assert body["data"] == {"insertOrders": None}
    assert await mesh.main.run("SELECT id FROM orders") == []


async def test_bad_user_input_is_refused_before_writing(mesh: Mesh) -> None:
    before = await mesh.customers()
    body = await mesh.post(
        'mutation { updateCustomers(where: {email: {_eq: "ann@example.com"}}, set: {name: "x"}) { affectedRows }'
        " deleteCustomers(where: {}) { affectedRows } }"
    )
    assert body == {
        "errors": [
            _error(
                "not applied: the operation's transaction was rolled back because deleteCustomers failed",
                "updateCustomers",
                "TRANSACTION_ABORTED",
                1,
                12,
            ),
            _error(
                "deleteCustomers: where names no condition, so it would write every row; name the rows",
                "deleteCustomers",
                "BAD_USER_INPUT",
                1,
                105,
            ),
        ],
        "data": {"updateCustomers": None, "deleteCustomers": None},
    }
    assert await mesh.customers() == before


async def test_an_unavailable_database_aborts_the_operation(server_mesh: Mesh) -> None:
    mesh = server_mesh
    await mesh.mesh.stop_resolver("ledger")
    body = await mesh.post(TRANSFER)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["TRANSACTION_ABORTED", "DATABASE_UNAVAILABLE"]
    assert body["errors"][1]["message"] == "database 'ledger' is unavailable: its resolver cannot be reached"
    assert body["data"] == {"updateCustomers": None, "insertEntries": None}
    assert (await mesh.customers())[1][3] == 5


async def test_two_sqlite_databases_are_refused(sqlite_mesh: Mesh) -> None:
    mesh = sqlite_mesh
    body = await mesh.post(TRANSFER)
    message = (
        "one mutation operation can write at most one SQLite database (SQLite cannot prepare a transaction"
        " for two-phase commit); this one writes 'main' and 'ledger'"
    )
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [(message, "TRANSACTION_ABORTED")] * 2
    assert body["data"] == {"updateCustomers": None, "insertEntries": None}
    assert (await mesh.customers())[1][3] == 5
    assert await mesh.ledger.run("SELECT id FROM entries") == []


async def test_mutations_are_refused_over_get(mesh: Mesh) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(mesh.mesh.url, params={"query": SEED})
    assert response.status_code == 405
    assert len(await mesh.customers()) == 2


async def test_a_mutation_selected_by_operation_name_is_refused_over_get(mesh: Mesh) -> None:
    # A query first in the document does not make the GET safe: the operation that would run counts.
    document = "query Q { __typename } " + SEED.strip().replace("mutation", "mutation M", 1)
    async with httpx.AsyncClient() as client:
        refused = await client.get(mesh.mesh.url, params={"query": document, "operationName": "M"})
        served = await client.get(mesh.mesh.url, params={"query": document, "operationName": "Q"})
    assert refused.status_code == 405
    assert refused.json()["errors"][0]["message"] == "mutations are not allowed over GET"
    assert served.status_code == 200 and served.json() == {"data": {"__typename": "Query"}}
    assert len(await mesh.customers()) == 2


def test_a_mutation_of_a_read_only_database_is_a_schema_error() -> None:
    config = parse_config(
        '[[databases]]\nname = "main"\nengine = "sqlite"\npath = "m.db"\nread_only = true\n'
        '[[databases]]\nname = "ledger"\nengine = "sqlite"\npath = "l.db"\n'
    )
    message = f"{SCHEMA}: Mutation.insert_customers: database 'main' is read_only: the API never writes there"
    with pytest.raises(SchemaError) as raised:
        load_schema(SCHEMA, ["main", "ledger"], read_only=["main"])
    assert str(raised.value) == message
    with pytest.raises(SchemaError) as raised:
        Router(config, load_schema(SCHEMA, ["main", "ledger"]))
    assert str(raised.value) == message


@pytest.fixture
async def cross_mesh(request: pytest.FixtureRequest) -> AsyncIterator[Mesh]:
    """`main` on PostgreSQL and `ledger` on MariaDB: an operation writing both is two-phase."""
    main = Tables.server(request.getfixturevalue("pg_database"))
    ledger = Tables.server(request.getfixturevalue("mysql_database"))
    await main.create()
    await ledger.create()
    running = await InProcessMesh({"main": main.settings, "ledger": ledger.settings}, SCHEMA).start()
    try:
        assert await running.post(SEED) == {"data": {"insertCustomers": {"affectedRows": 2}}}
        yield Mesh(running, main, ledger)
    finally:
        await running.stop()


async def test_a_transfer_across_postgresql_and_mariadb(cross_mesh: Mesh) -> None:
    mesh = cross_mesh
    body = await mesh.post(TRANSFER.replace("affectedRows }", "affectedRows returning { balance } }", 1))
    assert body == {
        "data": {
            "updateCustomers": {"affectedRows": 1, "returning": [{"balance": 0}]},
            "insertEntries": {"affectedRows": 1},
        }
    }
    assert (await mesh.customers())[1][3] == 0
    assert [(_lower(r[0]), r[1]) for r in await mesh.ledger.run("SELECT id, account FROM entries")] == [(ORDER, "bob")]
    # The same entry again: MariaDB refuses its key, and PostgreSQL's update is rolled back too.
    again = await mesh.post(TRANSFER.replace("balance: 0", "balance: 99"))
    assert [e["extensions"]["code"] for e in again["errors"]] == ["TRANSACTION_ABORTED", "CONSTRAINT_VIOLATION"]
    assert again["errors"][1]["message"] == "database 'ledger': unique constraint 'PRIMARY' violated"
    assert (await mesh.customers())[1][3] == 0
    assert len(await mesh.ledger.run("SELECT id FROM entries")) == 1
    assert await mesh.main.run("SELECT gid FROM pg_prepared_xacts") == []
    assert await mesh.ledger.run("XA RECOVER") == []
