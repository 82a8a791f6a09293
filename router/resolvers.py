"""gRPC clients of the resolver services, one channel per configured database (SPEC §8).

Every call carries the database's deadline (`timeout_secs`, SPEC §7) and the request's W3C trace
context in the `traceparent` metadata key, so the resolver's log lines name the same trace.
"""

from __future__ import annotations

import grpc

from dbmesh.config import DatabaseConfig
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from router.errors import from_rpc_error

__all__ = ["ResolverClient"]

_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    # Reconnect quickly once a resolver is back (the default backoff grows to two minutes).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


class ResolverClient:
    def __init__(self, config: DatabaseConfig) -> None:
        if not config.resolver:
            raise ValueError(f"database {config.name!r} has no resolver address")
        self.config = config
        self.name = config.name
        self.timeout = float(config.timeout_secs)
        self.channel = grpc.aio.insecure_channel(config.resolver, options=_OPTIONS)
        self.stub = pb_grpc.ResolverStub(self.channel)

    def _metadata(self, traceparent: str | None) -> tuple[tuple[str, str], ...]:
        return (("traceparent", traceparent),) if traceparent else ()

    async def query(self, request: pb.QueryRequest, traceparent: str | None = None) -> pb.QueryResponse:
        try:
            response: pb.QueryResponse = await self.stub.Query(
                request, timeout=self.timeout, metadata=self._metadata(traceparent)
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, self.name) from None
        return response

    async def status(self, replica: str = "", timeout: float | None = None) -> pb.StatusResponse:  # noqa: ASYNC109
        try:
            response: pb.StatusResponse = await self.stub.Status(
                pb.StatusRequest(replica=replica), timeout=timeout or self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, self.name) from None
        return response

    async def schema(self) -> pb.Schema:
        try:
            response: pb.Schema = await self.stub.GetSchema(pb.GetSchemaRequest(), timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, self.name) from None
        return response

    async def close(self) -> None:
        await self.channel.close()
