"""The plain-ASGI `POST /graphql` path (router/http.py `GraphQLEndpoint`), on a real router over
the demo's resolvers: a body sent in several chunks is read whole, a request's headers are read as
Starlette reads them (the first of repeated headers), and the other routes still reach FastAPI."""

from __future__ import annotations

import asyncio

import httpx
import orjson
from harness.mesh import InProcessMesh


def _host_port(mesh: InProcessMesh) -> tuple[str, int]:
    url = httpx.URL(mesh.url)
    return url.host, url.port or 80


async def _exchange(mesh: InProcessMesh, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """Send one raw HTTP/1.1 request; its response's status line, headers and body."""
    host, port = _host_port(mesh)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        headers: dict[bytes, bytes] = {}
        while (line := await asyncio.wait_for(reader.readline(), 10)) != b"\r\n":
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        body = await asyncio.wait_for(reader.readexactly(int(headers[b"content-length"])), 10)
    finally:
        writer.close()
    return status, headers, body


async def test_a_body_in_several_chunks_is_read_whole(demo_mesh: InProcessMesh) -> None:
    body = b'{"query": "{ __typename }"}'
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:5], body[5:13], body[13:]))
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, headers, answer = await _exchange(demo_mesh, head + chunks + b"0\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200")
    assert headers[b"content-type"] == b"application/json; charset=utf-8"
    assert orjson.loads(answer) == {"data": {"__typename": "Query"}}


async def test_the_first_of_repeated_accept_headers_decides(demo_mesh: InProcessMesh) -> None:
    body = b'{"query": "{ nope }"}'
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Accept: application/graphql-response+json\r\nAccept: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    status, headers, answer = await _exchange(demo_mesh, head + body)
    assert status.startswith(b"HTTP/1.1 400")  # a validation error under graphql-response+json
    assert headers[b"content-type"] == b"application/graphql-response+json; charset=utf-8"
    assert "data" not in orjson.loads(answer)


async def test_other_methods_and_routes_reach_the_fastapi_app(demo_mesh: InProcessMesh) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        put = await client.put(demo_mesh.url, content=b"{}", headers={"content-type": "application/json"})
        healthz = await client.get(demo_mesh.url.replace("/graphql", "/healthz"))
    assert put.status_code == 405
    assert healthz.status_code == 200 and healthz.json()["status"] == "ok"
