"""Run one resolver service: the contract's servicer plus `grpc.health.v1` and server reflection.

With `[mesh]` (dbmesh/mesh.py) every call but gRPC health's needs the mesh token (reflection's
too), and the port speaks TLS, requiring a client certificate signed by `tls_ca` when it is set.

`create_server(config, address)` binds (port 0 picks a free port, for tests) and returns the
running server and its port; `serve` runs until SIGTERM or SIGINT, then stops gracefully: new
calls are refused, calls in flight get `DRAIN_SECS` to finish, pools are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dbmesh.config import DatabaseConfig
from dbmesh.heap import freeze_startup_heap
from dbmesh.mesh import MeshConfig, TokenCheck
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services.engines import create_engine
from dbmesh.services.servicer import ResolverServicer

__all__ = ["DRAIN_SECS", "RunningServer", "create_server", "serve"]

log = logging.getLogger("dbmesh.resolver")

DRAIN_SECS = 5.0
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Resolver"].full_name


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    servicer: ResolverServicer
    health: health.aio.HealthServicer

    async def stop(self, grace: float | None = DRAIN_SECS) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.servicer.close()


async def create_server(
    config: DatabaseConfig, address: str = "127.0.0.1:0", mesh: MeshConfig | None = None
) -> RunningServer:
    mesh = mesh or MeshConfig()
    credentials = mesh.server_credentials()  # a bad PEM file fails here, before the pool opens
    servicer = ResolverServicer(create_engine(config))
    await servicer.start()
    server = grpc.aio.server(
        interceptors=[TokenCheck(mesh.token)] if mesh.token else None,
        options=[
            ("grpc.max_send_message_length", 256 * 1024 * 1024),
            # A batch of 100,000 UUID keys is a ~5 MB request; the default limit is 4 MB.
            ("grpc.max_receive_message_length", 256 * 1024 * 1024),
            # Clients reconnect every few minutes, so routers spread over resolver replicas added
            # by an autoscaler (a gRPC channel otherwise stays on the pod it first reached).
            ("grpc.max_connection_age_ms", 5 * 60 * 1000),
            ("grpc.max_connection_age_grace_ms", 30 * 1000),
        ],
    )
    pb_grpc.add_ResolverServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    try:
        port = (
            server.add_insecure_port(address) if credentials is None else server.add_secure_port(address, credentials)
        )
    except RuntimeError:  # grpcio raises when the address is taken (older versions returned 0)
        port = 0
    if port == 0:
        await servicer.close()
        raise OSError(f"cannot listen on {address}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, servicer, health_servicer)


async def serve(config: DatabaseConfig, address: str, mesh: MeshConfig | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    running = await create_server(config, address, mesh)
    host = address.rsplit(":", 1)[0]
    security = (mesh or MeshConfig()).describe()
    log.info("resolver for %s listening on %s:%d (%s)", config.describe(), host, running.port, security)
    print(f"resolver {config.name} listening on {host}:{running.port}", flush=True)
    freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        log.info("resolver for %s stopping", config.name)
        await running.stop()
