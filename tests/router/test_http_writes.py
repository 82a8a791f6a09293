"""How the router writes responses through `CoalescedWrites` (router/server.py), on a real router
over real resolvers: a response on a connection the router closes is written in full before the
close; pipelined requests are all answered, in order. (That a response's head and body are one
write is tests/unit/router/test_coalesced_writes.py.)"""

from __future__ import annotations

import asyncio

import httpx
import orjson
from harness.mesh import InProcessMesh

from dbmesh.demo import customer_id


def _request(query: str, *headers: str) -> bytes:
    body = orjson.dumps({"query": query})
    head = ["POST /graphql HTTP/1.1", "Host: x", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join([*head, *headers]) + "\r\n\r\n").encode() + body


def _split(response: bytes) -> tuple[bytes, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head, body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise AssertionError(f"no Content-Length in {head!r}")


async def _open(mesh: InProcessMesh) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = httpx.URL(mesh.url)
    return await asyncio.open_connection(url.host, url.port)


QUERY = '{ customer(id: "%s") { name } }' % customer_id(1)


async def test_a_response_before_the_router_closes_is_written_in_full(demo_mesh: InProcessMesh) -> None:
    reader, writer = await _open(demo_mesh)
    writer.write(_request(QUERY, "Connection: close"))
    await writer.drain()
    head, body = _split(await asyncio.wait_for(reader.read(), 10))  # until the router closes
    assert b"connection: close" in head.lower()
    assert orjson.loads(body) == {"data": {"customer": {"name": "Grace Lovelace"}}}
    writer.close()


async def test_pipelined_requests_are_answered_in_order(demo_mesh: InProcessMesh) -> None:
    reader, writer = await _open(demo_mesh)
    queries = ['{ customer(id: "%s") { name } }' % customer_id(i) for i in (1, 2, 3)]
    writer.write(b"".join(_request(q) for q in queries))
    await writer.drain()
    names = []
    for _ in queries:
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.readexactly(_content_length(head))
        names.append(orjson.loads(body)["data"]["customer"]["name"])
    assert len(set(names)) == 3 and names[0] == "Grace Lovelace"
    writer.close()
