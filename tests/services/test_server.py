"""The resolver process (docs/reference.md §8): grpc.health.v1 and reflection are served, and SIGTERM drains
the calls in flight before the process exits."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from harness.config import database_toml
from harness.servers import free_port

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc

REPO = Path(__file__).resolve().parents[2]

# A query that keeps SQLite busy for a while (well under the 30 s statement timeout).
SLOW_VIEW = """CREATE VIEW slow AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000000)
SELECT count(*) AS c FROM n"""


async def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db)
    conn.execute(SLOW_VIEW)
    conn.commit()
    conn.close()
    config = tmp_path / "dbmesh.toml"
    config.write_text(database_toml("x", {"engine": "sqlite", "path": str(db)}))
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "dbmesh", "resolver", "-c", str(config), "--database", "x", "--listen", address],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with grpc.aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
    return process, address


async def test_health_and_reflection(tmp_path: Path) -> None:
    process, address = await _start(tmp_path)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "dbmesh.resolver.v1.Resolver"):
                answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            responses = [r async for r in stub.ServerReflectionInfo(iter([request]), timeout=5)]
            names = {s.name for s in responses[0].list_services_response.service}
            assert {"dbmesh.resolver.v1.Resolver", "grpc.health.v1.Health"} <= names
    finally:
        process.terminate()
        process.wait(10)


async def test_sigterm_drains_calls_in_flight(tmp_path: Path) -> None:
    process, address = await _start(tmp_path)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.ResolverStub(channel)
        call = asyncio.ensure_future(
            stub.Query(pb.QueryRequest(collection="slow", columns=[pb.ColumnRef(name="c")]), timeout=30)
        )
        await asyncio.sleep(0.3)
        assert not call.done()  # the query is running (~1-2 s, under the 5 s drain)
        process.send_signal(signal.SIGTERM)
        response = await call
        assert response.row_sets[0].row_count == 1
    assert await asyncio.to_thread(process.wait, 15) == 0
