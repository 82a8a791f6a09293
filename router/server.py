"""The router's HTTP server: uvicorn with httptools, told how long a client may take to send a
request (docs/reference.md §5).

uvicorn closes idle keep-alive connections but waits for ever on a request whose head or body
never finishes arriving, so a few thousand half-sent requests hold that many connections open.
`BoundedReads` gives every request `[router] request_read_secs` from its first byte (or from
the connection's opening) to its last, then closes the connection. dbmesh also stops the server
itself (its own SIGINT/SIGTERM handling stops the resolvers too), so uvicorn's signal handlers
are off.

uvicorn writes a response's head and its body to the socket separately: two system calls and two
TCP segments per response. `CoalescedWrites` holds the writes made within one turn of the event
loop and sends them as one (a response's head and body are written in the same turn), before
closing the connection when it closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dbmesh.config import RouterConfig

__all__ = ["BoundedReads", "create_server"]


class CoalescedWrites:
    """A transport whose writes within one loop turn go to the socket as one write; everything
    else is the wrapped transport's."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedReads(HttpToolsProtocol):
    """HttpToolsProtocol with a deadline on reading each request (`read_secs`), writing through
    `CoalescedWrites`."""

    read_secs = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, CoalescedWrites(transport, asyncio.get_running_loop())))
        self._read_deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_secs, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def create_server(app: Any, config: RouterConfig) -> uvicorn.Server:
    """A uvicorn server for `app` (started with `serve(sockets=[...])`)."""
    protocol = type("BoundedReads", (BoundedReads,), {"read_secs": config.request_read_secs})
    return _Server(uvicorn.Config(app, http=protocol, log_level="warning", lifespan="on", access_log=False))
