"""Read replicas (docs/reference.md §7 affinity) and the W3C trace context reaching the resolvers' logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from harness.mesh import InProcessMesh
from harness.servers import PostgresServer

SCHEMA = Path(__file__).with_name("replica_schema.py")


async def _notes(server: PostgresServer, text: str) -> None:
    conn = await asyncpg.connect(host=server.host, port=server.port, user=server.user, database=server.database)
    try:
        await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, text text NOT NULL)")
        await conn.execute("INSERT INTO notes VALUES (1, $1)", text)
    finally:
        await conn.close()


@pytest.fixture
def replica_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
async def mesh(pg_private_server: PostgresServer, replica_server: PostgresServer) -> AsyncIterator[InProcessMesh]:
    await _notes(pg_private_server, "from the primary")
    await _notes(replica_server, "from the replica")
    pg = pg_private_server
    databases = {
        "pg": {
            "engine": "postgresql",
            "host": pg.host,
            "port": pg.port,
            "database": pg.database,
            "username": pg.user,
            "timeout_secs": 2,
            "replicas": [f"{replica_server.host}:{replica_server.port}"],
        }
    }
    mesh = await InProcessMesh(databases, SCHEMA).start()
    yield mesh
    await mesh.stop()


async def test_reads_go_to_a_healthy_replica_else_to_the_database(
    mesh: InProcessMesh, replica_server: PostgresServer
) -> None:
    replica = f"{replica_server.host}:{replica_server.port}"
    body = await mesh.post("{ notes { text } primaryNotes { text } }", extensions={"trace": True})
    assert body["data"] == {"notes": [{"text": "from the replica"}], "primaryNotes": [{"text": "from the primary"}]}
    routes = {r["fetch"]: r for r in body["extensions"]["trace"]["routes"]}
    assert routes[1]["replica"] == replica and "replica" not in routes[2]

    replica_server.stop()
    body = await mesh.post("{ notes { text } }", extensions={"trace": True})
    assert body["data"] == {"notes": [{"text": "from the primary"}]}
    assert "errors" not in body
    assert "replica" not in body["extensions"]["trace"]["routes"][0]

    replica_server.start()
    await mesh.router_probe()
    body = await mesh.post("{ notes { text } }")
    assert body["data"] == {"notes": [{"text": "from the replica"}]}


async def test_traceparent_reaches_the_resolver_logs(mesh: InProcessMesh, caplog: pytest.LogCaptureFixture) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with caplog.at_level(logging.DEBUG, logger="dbmesh.resolver"):  # per-call lines are DEBUG
        async with httpx.AsyncClient() as client:
            response = await client.post(
                mesh.url,
                json={"query": "{ primaryNotes { id } }", "extensions": {"trace": True}},
                headers={"traceparent": traceparent},
            )
    assert response.json()["extensions"]["trace"]["traceparent"] == traceparent
    lines = [r.getMessage() for r in caplog.records if r.name == "dbmesh.resolver" and "rpc=Query" in r.getMessage()]
    assert lines and all(f"traceparent={traceparent}" in line for line in lines)
