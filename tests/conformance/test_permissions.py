"""Two kinds of PERMISSION_DENIED (docs/reference.md §8): a write to a database configured
`read_only` is refused with a message starting "read-only" on every engine (the router reports
READ_ONLY_DATABASE), while a write the database itself refuses for lack of privileges is
PERMISSION_DENIED with the server's reason and no "read-only" (the router reports
PERMISSION_DENIED)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import grpc
import pytest
from harness.servers import DatabaseInfo

from conformance.backends import backend_for
from conformance.client import cmp, expect_error, row
from conformance.conftest import ENGINES, module_backend, running_resolver
from dbmesh.resolver.v1 import resolver_pb2 as pb

_roles = itertools.count(1)
READ_ONLY = "read-only: database 'conformance' is read-only"


@pytest.mark.parametrize("engine", ENGINES)
async def test_writes_to_a_read_only_database(
    engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    backend = await module_backend(engine, request, tmp_path_factory)
    try:
        await backend.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
        await backend.execute("INSERT INTO things (id, name) VALUES (1, 'one')")
        async with running_resolver(backend, read_only=True) as client:
            for call in (
                lambda: client.mutate("things", insert=[row(id=2, name="two")]),
                lambda: client.mutate(
                    "things", update=pb.Update(predicate=cmp("id", "eq", 1), set={"name": pb.Value(string="x")})
                ),
                lambda: client.mutate("things", delete=pb.Delete(predicate=cmp("id", "eq", 1))),
                lambda: client.begin(),
            ):
                assert await expect_error(grpc.StatusCode.PERMISSION_DENIED, call()) == READ_ONLY
            assert await client.rows("things", ["id", "name"]) == [[1, "one"]]
        assert await backend.fetch("SELECT id, name FROM things") == [(1, "one")]
    finally:
        await backend.close()


async def test_a_privilege_error_is_not_read_only(pg_database: DatabaseInfo, tmp_path: Path) -> None:
    owner = backend_for("postgresql", pg_database)
    role = f"dbmesh_reader_{next(_roles)}_{pg_database.database}"[:63]
    try:
        await owner.execute("CREATE TABLE things (id integer PRIMARY KEY, name text NOT NULL)")
        await owner.execute("INSERT INTO things (id, name) VALUES (1, 'one')")
        await owner.execute(f'CREATE ROLE "{role}" LOGIN')
        await owner.execute(f'GRANT SELECT ON things TO "{role}"')
        reader = backend_for("postgresql", dataclasses.replace(pg_database, user=role, password=""))
        async with running_resolver(reader) as client:
            assert await client.rows("things", ["id", "name"]) == [[1, "one"]]
            details = await expect_error(
                grpc.StatusCode.PERMISSION_DENIED, client.mutate("things", insert=[row(id=2, name="two")])
            )
        assert details == "database 'conformance': permission denied for table things"
        assert not details.startswith("read-only")
        assert await owner.fetch("SELECT id FROM things") == [(1,)]
    finally:
        await owner.execute("DROP TABLE IF EXISTS things")
        await owner.execute(f'DROP ROLE IF EXISTS "{role}"')
        await owner.close()
