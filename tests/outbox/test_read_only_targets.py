"""Write-through to `read_only` targets (docs/reference.md §10-§11): read_only means the GraphQL
API never writes there, while dbmesh's own replication may. On every engine, the outbox's apply
path (requests with the `replication` flag) writes to a read_only database, while the same
requests without the flag are still refused with PERMISSION_DENIED "read-only: ...", and appliers
racing on one row (a router applying its own write inline, a drainer) never move it backwards;
through a real
router, write-through keeps a read_only SQLite cache in step, and a mutation field aimed at it is a
schema error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from cache_world import Cache, eventually, post
from conformance.backends import Backend, backend_for
from harness.servers import DatabaseInfo

from dbmesh.config import parse_config
from dbmesh.errors import SchemaError
from dbmesh.outbox.apply import apply_changes, ensure_applied_table
from dbmesh.outbox.keys import row_key
from dbmesh.outbox.store import APPLIED, DELETE, UPSERT, Change, encode_row
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router import Router
from dbmesh.schema import load_schema
from dbmesh.services import create_server

ENGINES = ["postgresql", "mysql", "sqlite"]
READ_ONLY = "read-only: database 'target' is read-only"
KEY = {"things": ("id",)}


def _change(version: int, thing: int, name: str, operation: str = UPSERT) -> Change:
    data = pb.Row(values={"id": pb.Value(int=thing), "name": pb.Value(string=name)})
    return Change("target", "things", row_key([thing]), version, operation, encode_row(data), 0)


@pytest.fixture(params=ENGINES)
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Backend, ResolverClient]]:
    """A read_only database of each engine with `things` (1, 'one'), behind a real resolver."""
    engine = str(request.param)
    where: DatabaseInfo | Path = (
        tmp_path / "target.db"
        if engine == "sqlite"
        else request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database")
    )
    backend = backend_for(engine, where)
    await backend.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
    await backend.execute("INSERT INTO things (id, name) VALUES (1, 'one')")
    server = await create_server(backend.config("target", read_only=True), "127.0.0.1:0")
    address = f"127.0.0.1:{server.port}"
    client = ResolverClient(parse_config(backend.config_toml("target", read_only=True, resolver=address)).databases[0])
    try:
        yield backend, client
    finally:
        await client.close()
        await server.stop(0.5)
        await backend.close()


async def _things(backend: Backend) -> list[tuple[object, ...]]:
    return [(int(r[0]), str(r[1])) for r in await backend.fetch("SELECT id, name FROM things ORDER BY id")]


@asynccontextmanager
async def _refused() -> AsyncIterator[None]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        yield
    assert (raised.value.code(), raised.value.details()) == (grpc.StatusCode.PERMISSION_DENIED, READ_ONLY)


async def test_replication_writes_a_read_only_target_on_every_engine(
    target: tuple[Backend, ResolverClient],
) -> None:
    backend, client = target
    await ensure_applied_table(client)
    changes = [_change(10, 2, "two"), _change(11, 1, "uno"), _change(12, 2, "dos"), _change(13, 1, "", DELETE)]
    assert await apply_changes(client, changes, KEY) == 4
    assert await _things(backend) == [(2, "dos")]
    applied = await backend.fetch("SELECT row_key, version FROM dbmesh_applied ORDER BY row_key")
    assert [(str(k), int(v)) for k, v in applied] == [("[1]", 13), ("[2]", 12)]

    assert await apply_changes(client, changes, KEY) == 0  # applying twice changes nothing
    assert await apply_changes(client, [_change(9, 2, "stale")], KEY) == 0  # an older change never wins
    assert await _things(backend) == [(2, "dos")]


async def test_appliers_racing_on_one_row_never_move_it_backwards_on_every_engine(
    target: tuple[Backend, ResolverClient],
) -> None:
    """Two appliers at once, the newer change's and the older one's (docs/reference.md §11: a
    router applies its own write inline while the drainer, or another router, applies the same
    row). A batch that fails (two first changes of a row both inserting its `dbmesh_applied` entry,
    a deadlock) is applied again, as the drainer does; the row always ends at the newer change."""
    backend, client = target
    await ensure_applied_table(client)

    async def until_applied(changes: list[Change]) -> int:
        for _ in range(50):
            try:
                return await apply_changes(client, changes, KEY)
            except CallError:
                continue
        raise AssertionError("never applied")

    for thing in range(10, 16):
        for version in (1, 3):  # a row without an entry yet, then one with
            older, newer = _change(version, thing, f"older{version}"), _change(version + 1, thing, f"newer{version}")
            applied = await asyncio.gather(until_applied([newer]), until_applied([older]))
            assert applied[0] == 1
            assert applied[1] in (0, 1)  # skipped when the newer change was applied first
            found = await backend.fetch(f"SELECT name FROM things WHERE id = {thing}")
            assert [str(r[0]) for r in found] == [f"newer{version}"]
    entries = await backend.fetch("SELECT version FROM dbmesh_applied WHERE row_key = '[15]'")
    assert [int(r[0]) for r in entries] == [4]


async def test_without_the_flag_a_read_only_target_still_refuses_every_write(
    target: tuple[Backend, ResolverClient],
) -> None:
    backend, client = target
    await ensure_applied_table(client)
    assert await apply_changes(client, [_change(1, 3, "three")], KEY) == 1
    insert = pb.MutateRequest(collection="things", insert=pb.Insert(rows=[_change(0, 4, "four").row()]))
    async with _refused():
        await client.stub.Mutate(insert, timeout=10)
    async with _refused():
        await client.stub.Begin(pb.BeginRequest(), timeout=10)
    async with _refused():
        await client.stub.EnsureSystemTables(pb.EnsureSystemTablesRequest(tables=["dbmesh_outbox"]), timeout=10)
    with pytest.raises(CallError) as raised:
        await client.mutate(pb.MutateRequest(collection=APPLIED, delete=pb.Delete()))
    assert (raised.value.code, raised.value.message) == ("READ_ONLY_DATABASE", "database 'target' is read-only")
    assert await _things(backend) == [(1, "one"), (3, "three")]


CACHED = "{ cachedCustomers(orderBy: [{email: ASC}]) { email visits } }"
ONE = "00000000-0000-4000-8000-000000000001"
TWO = "00000000-0000-4000-8000-000000000002"


async def test_write_through_keeps_a_read_only_sqlite_cache_in_step(read_only_cache: Cache) -> None:
    cache = read_only_cache
    router = await cache.router()
    insert = (
        f'mutation {{ insertCustomers(objects: [{{id: "{ONE}", email: "a@example.com", visits: 0}},'
        f' {{id: "{TWO}", email: "b@example.com", visits: 1}}]) {{ affectedRows }} }}'
    )
    assert await post(router, insert) == {"data": {"insertCustomers": {"affectedRows": 2}}}
    update = f'mutation {{ updateCustomers(where: {{id: {{_eq: "{TWO}"}}}}, inc: {{visits: 4}}) {{ affectedRows }} }}'
    assert await post(router, update) == {"data": {"updateCustomers": {"affectedRows": 1}}}
    delete = f'mutation {{ deleteCustomers(where: {{id: {{_eq: "{ONE}"}}}}) {{ affectedRows }} }}'
    assert await post(router, delete) == {"data": {"deleteCustomers": {"affectedRows": 1}}}

    await eventually(
        lambda: cache.sqlite_rows("SELECT id, email, visits FROM customers") == [(TWO, "b@example.com", 5)]
    )
    await eventually(cache.nothing_pending)
    assert len(cache.audit()) == 4
    assert cache.audit(ONE) == [("insert", "a@example.com"), ("delete", "a@example.com")]
    assert cache.audit(TWO) == [("insert", "b@example.com"), ("update", "b@example.com")]
    assert await post(router, CACHED) == {"data": {"cachedCustomers": [{"email": "b@example.com", "visits": 5}]}}


CACHE_WRITER = """from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    id: UUID
    email: str
    visits: int


@types.object
class Query:
    @database("sqlite_cache")
    def cached_customers(self) -> list[Customer]: ...


@types.object
class Mutation:
    @database("sqlite_cache")
    def insert_customers(self) -> list[Customer]: ...
"""


def test_a_mutation_of_the_read_only_cache_is_still_a_schema_error(read_only_cache: Cache, tmp_path: Path) -> None:
    schema = tmp_path / "cache_writer.py"
    schema.write_text(CACHE_WRITER)
    config = parse_config(read_only_cache.mesh.toml())
    message = f"{schema}: Mutation.insert_customers: database 'sqlite_cache' is read_only: the API never writes there"
    with pytest.raises(SchemaError) as raised:
        Router(config, load_schema(schema, [d.name for d in config.databases]))
    assert str(raised.value) == message
