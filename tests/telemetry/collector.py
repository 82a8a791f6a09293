"""A real OTLP/gRPC trace receiver for the tests: the collector's `TraceService` (from the
`opentelemetry-proto` package) on a free loopback port, keeping every span it is sent with the
`service.name` of the process that sent it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as service_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as service_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

# For a mesh's environment: spans leave each process within 50 ms instead of the SDK's default
# 5 s (the SDK's own variable).
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "50"}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass(frozen=True)
class Received:
    """One exported span, as the collector got it."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    raw: bytes  # the span as sent, to search for what must never be in it

    @property
    def failed(self) -> bool:
        return self.status_code == Status.STATUS_CODE_ERROR


class Collector(service_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.requests = 0
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def Export(
        self, request: service_pb.ExportTraceServiceRequest, context: Any
    ) -> service_pb.ExportTraceServiceResponse:
        self.requests += 1
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        Received(
                            service=str(resource.get("service.name")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                            status_message=span.status.message,
                            raw=resource_spans.resource.SerializeToString() + span.SerializeToString(),
                        )
                    )
        return service_pb.ExportTraceServiceResponse()

    async def start(self) -> Collector:
        self._server = grpc.aio.server()
        service_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=0)

    def trace(self, trace_id: str) -> list[Received]:
        return [s for s in self.spans if s.trace_id == trace_id]

    async def wait_for(self, done: Callable[[list[Received]], bool], timeout: float = 20.0) -> list[Received]:
        """The spans received once `done(spans)` holds; an AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done(self.spans):
            if time.monotonic() > deadline:
                raise AssertionError(f"spans not received within {timeout:g}s; got {[s.name for s in self.spans]}")
            await asyncio.sleep(0.05)
        return list(self.spans)
