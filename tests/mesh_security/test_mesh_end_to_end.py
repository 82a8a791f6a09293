"""The router and the CLI over a secured mesh (docs/reference.md §14, "Mesh"): GraphQL answers end to
end over token + mTLS (in process, and through `dbmesh up` over PostgreSQL, MariaDB and SQLite with
one OpenTelemetry trace across the processes); a router with the wrong token gets its databases
refused as unavailable; resolver replicas over TLS; `dbmesh health`, `outbox` with `[mesh]`; the
token appears in no response, log or trace."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from e2e.federation import SCHEMA, Dataset, cid, federation_toml, load_mariadb, load_postgres, load_sqlite
from harness.config import config_toml, database_toml, mesh_toml
from harness.mesh import REPO, InProcessMesh, UpProcess
from harness.servers import DatabaseInfo
from mesh_security.conftest import TOKEN, WRONG_TOKEN
from mesh_security.mesh_pki import Pki
from telemetry.collector import FAST_EXPORT, Collector

from dbmesh.commands import serve_router
from dbmesh.config import parse_config
from dbmesh.demo import EXAMPLE_QUERY, customer_id
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services import create_server


def _mtls(pki: Pki, token: str = TOKEN) -> dict[str, Any]:
    # One certificate for every process (serverAuth and clientAuth, SAN 127.0.0.1 and localhost).
    return {"token": token, "tls_cert": str(pki.server.cert), "tls_key": str(pki.server.key), "tls_ca": str(pki.ca)}


@pytest.fixture(scope="module")
async def secured(demo: tuple[dict[str, dict[str, Any]], Path], pki: Pki) -> AsyncIterator[InProcessMesh]:
    databases, schema = demo
    mesh = await InProcessMesh(databases, schema, mesh=_mtls(pki)).start()
    yield mesh
    await mesh.stop()


async def test_graphql_answers_over_token_and_mtls(secured: InProcessMesh) -> None:
    body = await secured.post(EXAMPLE_QUERY, {"id": customer_id(1)})
    assert "errors" not in body, body
    assert body["data"]["customer"]["id"] == customer_id(1)
    assert body["data"]["customer"]["allOrders"]  # from the orders database
    assert all(status["connected"] for status in body["data"]["databaseStatus"])


async def test_the_secured_resolvers_refuse_a_plaintext_client(secured: InProcessMesh) -> None:
    for port in secured.ports.values():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                "/dbmesh.resolver.v1.Resolver/Status",
                request_serializer=pb.StatusRequest.SerializeToString,
                response_deserializer=pb.StatusResponse.FromString,
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(pb.StatusRequest(), metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_router_with_the_wrong_token_finds_its_databases_unavailable(
    secured: InProcessMesh, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    assert secured.config is not None and secured.model is not None
    config = parse_config(secured.toml().replace(TOKEN, WRONG_TOKEN))
    client = ResolverClient(config.databases[0], config.mesh)
    try:
        with pytest.raises(CallError) as refused:
            await client.status()
    finally:
        await client.close()
    name = config.databases[0].name
    assert (refused.value.code, refused.value.message, refused.value.unavailable) == (
        "DATABASE_UNAVAILABLE",
        f"database {name!r} is unavailable: its resolver refused the mesh token ([mesh] token)",
        True,
    )

    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    with caplog.at_level(logging.DEBUG):
        task = asyncio.get_running_loop().create_task(
            serve_router(config, secured.model, "127.0.0.1", 0, stop, lambda url, _r: ready.set_result(url))
        )
        url = await asyncio.wait_for(ready, 30)
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(url, json={"query": EXAMPLE_QUERY, "variables": {"id": customer_id(1)}})
        stop.set()
        await task
    body = response.json()
    codes = {error["extensions"]["code"] for error in body["errors"]}
    assert codes == {"DATABASE_UNAVAILABLE"}, body
    assert any("refused the mesh token" in error["message"] for error in body["errors"])
    for secret in (TOKEN, WRONG_TOKEN):
        assert secret not in response.text and secret not in caplog.text


async def test_resolver_replicas_over_tls(demo: tuple[dict[str, dict[str, Any]], Path], pki: Pki) -> None:
    # An `ipv4:A,B` target: the certificate is checked against the first address (dbmesh/mesh.py).
    databases, _ = demo
    name, settings = next(iter(databases.items()))
    config = parse_config(database_toml(name, settings) + mesh_toml(_mtls(pki)))
    servers = [await create_server(config.databases[0], "127.0.0.1:0", config.mesh) for _ in range(2)]
    replicated = config.databases[0].with_resolvers([f"127.0.0.1:{s.port}" for s in servers])
    client = ResolverClient(replicated, config.mesh)
    try:
        answers = [await client.status() for _ in range(4)]
    finally:
        await client.close()
        for server in servers:
            await server.stop(grace=0)
    assert all(answer.connected for answer in answers)


async def test_a_dns_target_over_tls_is_checked_against_its_name(
    demo: tuple[dict[str, dict[str, Any]], Path], pki: Pki
) -> None:
    # `dns:///localhost:PORT`: the certificate is checked against `localhost` (its SAN has it).
    databases, _ = demo
    name, settings = next(iter(databases.items()))
    config = parse_config(database_toml(name, settings) + mesh_toml(_mtls(pki)))
    server = await create_server(config.databases[0], "127.0.0.1:0", config.mesh)
    named = dataclasses.replace(config.databases[0], resolver=f"dns:///localhost:{server.port}")
    client = ResolverClient(named, config.mesh)
    try:
        assert (await client.status()).connected
    finally:
        await client.close()
        await server.stop(grace=0)


# --- dbmesh up --------------------------------------------------------------------------------------

DATA = Dataset(customers=10)
NESTED = "query Nested($id: ID!) { customer(id: $id) { email allOrders { id items { quantity } } } }"


@pytest.fixture(scope="module")
async def collector() -> AsyncIterator[Collector]:
    receiver = await Collector().start()
    yield receiver
    await receiver.stop()


@pytest.fixture(scope="module")
async def up(
    pg_module_database: DatabaseInfo,
    mysql_module_database: DatabaseInfo,
    tmp_path_factory: pytest.TempPathFactory,
    pki: Pki,
    collector: Collector,
) -> AsyncIterator[tuple[UpProcess, Path]]:
    folder = tmp_path_factory.mktemp("mesh-up")
    await load_postgres(pg_module_database, DATA)
    await load_mariadb(mysql_module_database, DATA)
    load_sqlite(folder / "cache.db", DATA, cached=5)
    config = folder / "dbmesh.toml"
    mesh = {**_mtls(pki), "token": "${DBMESH_MESH_TOKEN}"}
    telemetry = f'\n[telemetry]\notlp_endpoint = "{collector.endpoint}"\n'
    toml = federation_toml(pg_module_database, mysql_module_database, folder / "cache.db")
    config.write_text(toml + "\n" + mesh_toml(mesh) + telemetry)
    process = await UpProcess(config, SCHEMA, env={**FAST_EXPORT, "DBMESH_MESH_TOKEN": TOKEN}).start()
    yield process, config
    assert await process.stop() == 0
    assert TOKEN not in "".join(process.output)


async def test_dbmesh_up_answers_over_token_and_mtls_in_one_trace(
    up: tuple[UpProcess, Path], collector: Collector
) -> None:
    process, _ = up
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            process.url, json={"query": NESTED, "variables": {"id": cid(3)}, "extensions": {"trace": True}}
        )
    body = response.json()
    assert "errors" not in body, body
    assert len(body["data"]["customer"]["allOrders"]) == 3
    trace_id = body["extensions"]["trace"]["traceparent"].split("-")[1]

    def complete(spans: list[Any]) -> bool:
        # The router and the resolvers export on their own schedules: wait for both sides' spans.
        names = [s.name for s in spans if s.trace_id == trace_id]
        return names.count("dbmesh.statement") == 3 and names.count("dbmesh.fetch") == 3

    await collector.wait_for(complete)
    spans = collector.trace(trace_id)
    fetches = {s.span_id for s in spans if s.name == "dbmesh.fetch"}
    statements = [s for s in spans if s.name == "dbmesh.statement"]
    # The traceparent metadata reached each resolver beside the token, over TLS.
    assert len(fetches) == 3 and {s.parent_span_id for s in statements} == fetches
    assert all(s.service == "dbmesh-resolver" for s in statements)
    assert not any(TOKEN.encode() in s.raw for s in spans)


def _dbmesh(*args: str) -> subprocess.CompletedProcess[str]:
    # As in a container: the config's variables are set (`-c` loads it as every command does).
    env = {**os.environ, "DBMESH_MESH_TOKEN": TOKEN}
    return subprocess.run(
        [sys.executable, "-m", "dbmesh", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
        env=env,
    )


async def test_health_and_outbox_over_the_secured_mesh(up: tuple[UpProcess, Path], pki: Pki) -> None:
    process, config = up
    address = process.addresses["postgres_primary"]
    healthy = await asyncio.to_thread(_dbmesh, "health", "--resolver", address, "-c", str(config))
    assert (healthy.returncode, healthy.stderr) == (0, "")
    plaintext = await asyncio.to_thread(_dbmesh, "health", "--resolver", address, "--timeout", "2")
    assert plaintext.returncode == 1
    assert plaintext.stderr.strip() == f"dbmesh: error: resolver {address}: UNAVAILABLE"

    # `dbmesh outbox` reads every database through its resolver: with the token and certificates.
    written = config.parent / "running.toml"
    databases = {
        name: {"engine": "sqlite", "path": "unused.db", "resolver": process.addresses[name]}
        for name in ("postgres_primary", "mysql_historical", "sqlite_cache")
    }
    written.write_text(config_toml(databases, mesh={**_mtls(pki), "token": TOKEN}))
    listed = await asyncio.to_thread(_dbmesh, "outbox", "-c", str(written))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no pending write-through changes"
    wrong = config_toml(databases, mesh={**_mtls(pki), "token": WRONG_TOKEN})
    written.write_text(wrong)
    refused = await asyncio.to_thread(_dbmesh, "outbox", "-c", str(written))
    assert refused.returncode == 3
    assert "not read: database 'postgres_primary' is unavailable: its resolver refused the mesh token" in refused.stdout
    assert WRONG_TOKEN not in refused.stdout + refused.stderr
