"""`CoalescedWrites` (router/server.py): the writes of one event-loop turn reach the transport as
one write, in order; a close sends what is held first; nothing is written to a closing transport."""

from __future__ import annotations

import asyncio
from typing import Any

from dbmesh.router.server import CoalescedWrites


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


async def test_writes_within_one_loop_turn_are_one_write() -> None:
    raw = RecordingTransport()
    transport = CoalescedWrites(raw, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert raw.writes == []  # held until the loop turns
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert raw.writes[1:] == [b"next"]


async def test_close_sends_what_is_held_first() -> None:
    raw = RecordingTransport()
    transport = CoalescedWrites(raw, asyncio.get_running_loop())
    transport.write(b"head")
    transport.write(b"body")
    transport.close()
    assert raw.writes == [b"headbody"] and raw.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert raw.writes == [b"headbody"]


async def test_nothing_is_written_to_a_closing_transport_and_the_rest_is_the_transports() -> None:
    raw = RecordingTransport()
    transport = CoalescedWrites(raw, asyncio.get_running_loop())
    transport.write(b"late")
    raw.closed = True  # the peer went away meanwhile
    await asyncio.sleep(0)
    assert raw.writes == []
    assert transport.is_closing() and transport.get_extra_info("peername") == ("127.0.0.1", 1234)
