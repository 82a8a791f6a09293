"""deploy/tls/make-certs.sh: the certificates it makes carry the mesh for real. A resolver serving
mTLS with them answers the router's names (each resolver Service of dbmesh.toml, as the `dns:///`
target dials it) and the probes' (`dbmesh health --resolver 127.0.0.1:PORT -c CONFIG`, exactly as
deploy/k8s and docker-compose.yml run it)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import grpc
from deploy_checks import REPO, load_dbmesh_config, resolver_host_port, run
from harness.config import database_toml, mesh_toml

from dbmesh.config import parse_config
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services import create_server

TOKEN = "deploy-mesh-token-0123456789"


async def test_the_made_certificates_serve_every_deployed_name(tmp_path: Path) -> None:
    made = run(["sh", REPO / "deploy" / "tls" / "make-certs.sh", tmp_path / "tls"])
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"wrote {tmp_path / 'tls'}/ca.crt, tls.crt, tls.key")
    tls = tmp_path / "tls"
    sqlite3.connect(tmp_path / "c.db").close()
    mesh = {
        "token": TOKEN,
        "tls_cert": str(tls / "tls.crt"),
        "tls_key": str(tls / "tls.key"),
        "tls_ca": str(tls / "ca.crt"),
    }
    config_path = tmp_path / "dbmesh.toml"
    config_path.write_text(database_toml("c", {"engine": "sqlite", "path": str(tmp_path / "c.db")}) + mesh_toml(mesh))
    config = parse_config(config_path.read_text(), source=str(config_path))
    running = await create_server(config.databases[0], "127.0.0.1:0", config.mesh)
    try:
        deployed = load_dbmesh_config(
            (REPO / "deploy" / "dbmesh.toml").read_text(encoding="utf-8"),
            {
                "POSTGRES_DB": "p",
                "POSTGRES_USER": "u",
                "MYSQL_DATABASE": "m",
                "MYSQL_USER": "u",
                "DBMESH_MESH_TOKEN": TOKEN,
            },
        )
        names = [resolver_host_port(d.resolver or "")[0] for d in deployed.databases] + ["localhost", "127.0.0.1"]
        credentials = config.mesh.channel_credentials()
        assert credentials is not None
        for name in names:
            options = [("grpc.ssl_target_name_override", name)]
            async with grpc.aio.secure_channel(f"127.0.0.1:{running.port}", credentials, options=options) as channel:
                answer = await pb_grpc.ResolverStub(channel).Status(
                    pb.StatusRequest(), metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=10
                )
            assert answer.connected, name
        options = [("grpc.ssl_target_name_override", "resolver-elsewhere")]  # a name it does not hold
        async with grpc.aio.secure_channel(f"127.0.0.1:{running.port}", credentials, options=options) as channel:
            try:
                await pb_grpc.ResolverStub(channel).Status(pb.StatusRequest(), timeout=5)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
            else:
                raise AssertionError("a name outside the certificate was accepted")

        probe = [
            sys.executable,
            "-m",
            "dbmesh",
            "health",
            "--resolver",
            f"127.0.0.1:{running.port}",
            "-c",
            str(config_path),
        ]
        probed = await asyncio.to_thread(
            subprocess.run, probe, capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ)
        )
        assert (probed.returncode, probed.stderr) == (0, "")
    finally:
        await running.stop(grace=0)
