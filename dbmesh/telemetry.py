"""OpenTelemetry traces (docs/reference.md §15): one trace per GraphQL request, across the router and
the resolvers.

With a ``[telemetry]`` table each dbmesh process `install`s one `Tracing` at start (the router in
`dbmesh.commands.serve_router`, a resolver in `dbmesh resolver`): the official SDK's tracer provider,
a batching span processor (finished spans are queued and sent by the processor's own thread, so a
request pays for building its spans, never for exporting them) and the OTLP/gRPC exporter. Without
the table `current()` is `OFF`, whose every span is the shared `NO_SPAN` that does nothing: the SDK
is not even imported.

The spans: `graphql.request` per GraphQL request (router, kind SERVER; the child of an incoming
``traceparent`` header when there is one), `dbmesh.fetch` per plan fetch (router, CLIENT, child of
the request span) and `dbmesh.statement` per SQL statement (resolver, CLIENT), whose parent is its
fetch span, reached through the W3C ``traceparent`` gRPC metadata the router sends with each
fetch. Attributes never hold values, parameters or secrets: names, counts, error codes and the SQL
text with its placeholders. A failed span's status is ERROR with the error's code alone (a message
may quote a value).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from dbmesh.config import TelemetryConfig

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span as SdkSpan
    from opentelemetry.trace import Tracer as SdkTracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["NO_SPAN", "OFF", "Span", "Tracer", "Tracing", "current", "install", "uninstall"]

Attributes = Mapping[str, str | int | float | bool]

# How long one export may take: a collector that does not answer delays a process's stop this long.
EXPORT_TIMEOUT_SECS = 5.0


class Span:
    """A started span, ended when its ``with`` block is left (failed, with the error's code, when the
    block raised). `child` starts a span under it in this process; `traceparent` is what starts one
    under it in another."""

    def __init__(self, tracing: Tracing, span: SdkSpan) -> None:
        self._tracing = tracing
        self._span = span

    @property
    def recording(self) -> bool:
        """Whether its trace is sampled: spans under it are recorded (and worth describing) only then."""
        return bool(self._span.get_span_context().trace_flags.sampled)

    @property
    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` naming this span as the parent, or None when it has none."""
        return self._tracing.traceparent(self._span)

    def child(self, name: str, attributes: Attributes) -> Span:
        return self._tracing.start(name, self._tracing.context(self._span), attributes, server=False)

    def set(self, key: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(key, value)

    def failed(self, code: str) -> None:
        """Mark the span failed with an error code (`dbmesh.error_code`, and the status's description)."""
        from opentelemetry.trace import Status, StatusCode

        self._span.set_attribute("dbmesh.error_code", code)
        self._span.set_status(Status(StatusCode.ERROR, code))

    def __enter__(self) -> Span:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is not None:
            self.failed(str(getattr(error, "code", None) or type(error).__name__))
        self._span.end()


class _NoSpan(Span):
    """The span of a process without telemetry: does nothing, and its children are itself."""

    def __init__(self) -> None:
        pass

    @property
    def recording(self) -> bool:
        return False

    @property
    def traceparent(self) -> str | None:
        return None

    def child(self, name: str, attributes: Attributes) -> Span:
        return self

    def set(self, key: str, value: str | int | float | bool) -> None:
        pass

    def failed(self, code: str) -> None:
        pass

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        pass


NO_SPAN: Span = _NoSpan()


class Tracer:
    """A process without telemetry (`OFF`): every span is `NO_SPAN`."""

    enabled = False

    def request(self, traceparent: str | None, attributes: Attributes) -> Span:
        """The span of one GraphQL request; a child of `traceparent` (an incoming header) if given."""
        return NO_SPAN

    def remote(self, traceparent: str | None) -> Span:
        """The span another process named in `traceparent`, to start children under (it is not
        exported from here); without a valid, sampled one, nothing under it is recorded."""
        return NO_SPAN

    def shutdown(self) -> None:
        """Export what is queued and stop."""


OFF = Tracer()


class Tracing(Tracer):
    """The OpenTelemetry SDK set up to export this process's spans to one OTLP/gRPC collector."""

    enabled = True

    def __init__(self, endpoint: str, resource: Attributes) -> None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        exporter = OTLPSpanExporter(
            endpoint=endpoint, insecure=endpoint.startswith("http://"), timeout=EXPORT_TIMEOUT_SECS
        )
        self._provider: TracerProvider = TracerProvider(resource=Resource.create(dict(resource)))
        self._provider.add_span_processor(
            BatchSpanProcessor(exporter, export_timeout_millis=EXPORT_TIMEOUT_SECS * 1000)
        )
        self._tracer: SdkTracer = self._provider.get_tracer("dbmesh")
        self._propagator: TraceContextTextMapPropagator = TraceContextTextMapPropagator()

    def request(self, traceparent: str | None, attributes: Attributes) -> Span:
        return self.start("graphql.request", self._extract(traceparent), attributes, server=True)

    def remote(self, traceparent: str | None) -> Span:
        from opentelemetry.trace import INVALID_SPAN, get_current_span

        context = self._extract(traceparent)
        parent = get_current_span(context) if context is not None else INVALID_SPAN
        return Span(self, parent)

    def start(self, name: str, parent: Context | None, attributes: Attributes, *, server: bool) -> Span:
        from opentelemetry.trace import SpanKind

        kind = SpanKind.SERVER if server else SpanKind.CLIENT
        return Span(self, self._tracer.start_span(name, context=parent, kind=kind, attributes=attributes))

    def context(self, span: SdkSpan) -> Context | None:
        """The context that makes `span` the parent; None (a new trace) for an invalid span."""
        from opentelemetry.trace import set_span_in_context

        return set_span_in_context(span) if span.get_span_context().is_valid else None

    def traceparent(self, span: SdkSpan) -> str | None:
        carrier: dict[str, str] = {}
        context = self.context(span)
        if context is not None:
            self._propagator.inject(carrier, context=context)
        return carrier.get("traceparent")

    def _extract(self, traceparent: str | None) -> Context | None:
        if not traceparent:
            return None
        return self._propagator.extract({"traceparent": traceparent})

    def shutdown(self) -> None:
        self._provider.shutdown()


_current: Tracer = OFF


def current() -> Tracer:
    """This process's tracer: the installed `Tracing`, or `OFF`."""
    return _current


def install(config: TelemetryConfig | None, service: str, **resource: Any) -> Tracer:
    """Set up this process's telemetry from its ``[telemetry]`` table, as OpenTelemetry service
    `service` with these resource attributes; None (no table) leaves it as it is and returns `OFF`.
    Give what it returns to `uninstall` when the process stops."""
    global _current
    if config is None:
        return OFF
    _current = Tracing(config.otlp_endpoint, {"service.name": service, **resource})
    return _current


async def uninstall(tracer: Tracer) -> None:
    """Export what `tracer` has queued and stop it (in a thread: an export may wait for the
    collector up to `EXPORT_TIMEOUT_SECS`); it is no longer this process's tracer."""
    global _current
    if tracer is OFF:
        return
    if _current is tracer:
        _current = OFF
    await asyncio.to_thread(tracer.shutdown)
