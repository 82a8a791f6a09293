"""What the HTTP layer bounds (docs/reference.md §5, §14), on a real router over real resolvers:
the body size (413, read no further), batches of operations, how long a client may take to send a
request (half-sent requests are closed, a slow one does not hold the router), and that nothing
unexpected ever becomes a plain-text HTTP 500."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from harness.demo import demo_databases, prepare_demo
from harness.mesh import InProcessMesh

from dbmesh.demo import customer_id

LIMITS = {"max_body_bytes": 4096, "max_batch_operations": 3, "request_read_secs": 0.5}


@pytest.fixture(scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    data = tmp_path_factory.mktemp("demo")
    schema = prepare_demo(data)
    running = await InProcessMesh(demo_databases(data), schema, router_settings=LIMITS).start()
    yield running
    await running.stop()


async def _post(mesh: InProcessMesh, content: bytes, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(mesh.url, content=content, headers={"content-type": "application/json", **headers})


def _host_port(mesh: InProcessMesh) -> tuple[str, int]:
    url = httpx.URL(mesh.url)
    return url.host, url.port or 80


async def test_a_body_at_the_limit_is_served_and_one_past_it_is_413(mesh: InProcessMesh) -> None:
    query = '{ customer(id: "%s") { name } }' % customer_id(1)
    base = b'{"query": "' + query.replace('"', '\\"').encode() + b'", "extensions": {"pad": "'
    at_limit = base + b"x" * (LIMITS["max_body_bytes"] - len(base) - 3) + b'"}}'
    assert len(at_limit) == LIMITS["max_body_bytes"]
    served = await _post(mesh, at_limit)
    assert served.status_code == 200 and served.json()["data"]["customer"]["name"] == "Grace Lovelace"
    refused = await _post(mesh, at_limit[:-2] + b'x"}}')
    assert refused.status_code == 413
    assert refused.json() == {
        "errors": [{"message": "the request body is larger than 4096 bytes", "extensions": {"code": "BAD_USER_INPUT"}}]
    }


async def test_a_chunked_body_past_the_limit_is_413_without_reading_it_all(mesh: InProcessMesh) -> None:
    host, port = _host_port(mesh)
    reader, writer = await asyncio.open_connection(host, port)
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b'{"query": "{ __typename }", "x": "' + b"y" * 8192
    writer.write(head + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")  # the body never ends
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status.startswith(b"HTTP/1.1 413")
    writer.close()


async def test_batches_up_to_the_limit(mesh: InProcessMesh) -> None:
    one: dict[str, Any] = {"query": "{ __typename }"}
    served = await _post(mesh, httpx.Request("POST", "/", json=[one, one, one]).content)
    assert served.status_code == 200 and served.json() == [{"data": {"__typename": "Query"}}] * 3
    too_many = await _post(mesh, httpx.Request("POST", "/", json=[one] * 4).content)
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["message"] == "a batch must have 1 to 3 operations (got 4)"
    empty = await _post(mesh, b"[]")
    assert (
        empty.status_code == 400
        and empty.json()["errors"][0]["message"] == "a batch must have 1 to 3 operations (got 0)"
    )
    mixed = await _post(mesh, httpx.Request("POST", "/", json=[one, {"nope": 1}]).content)
    assert mixed.status_code == 400 and mixed.json()["errors"][0]["message"] == "the request must have a 'query' string"


async def test_half_sent_requests_are_closed_and_do_not_hold_the_router(mesh: InProcessMesh) -> None:
    host, port = _host_port(mesh)
    held = []
    for _ in range(200):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Le")
        await writer.drain()
        held.append((reader, writer))
    started = time.monotonic()
    answer = await mesh.post("{ __typename }")  # another client is served meanwhile
    assert answer == {"data": {"__typename": "Query"}}
    closed = await asyncio.gather(*(asyncio.wait_for(r.read(), 10) for r, _ in held))
    assert closed == [b""] * 200  # the router closed every one (EOF), after request_read_secs
    assert time.monotonic() - started < 10
    for _, writer in held:
        writer.close()


async def test_a_body_that_stops_arriving_is_closed(mesh: InProcessMesh) -> None:
    host, port = _host_port(mesh)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_keep_alive_connections_serve_several_requests(mesh: InProcessMesh) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(3):
            response = await client.post(mesh.url, json={"query": "{ __typename }"})
            assert response.status_code == 200
            await asyncio.sleep(0.3)  # idle between requests does not count against request_read_secs


async def test_an_unexpected_failure_is_one_graphql_error_not_plain_text(
    mesh: InProcessMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(mesh.router, "execute", broken)
    response = await _post(mesh, b'{"query": "{ __typename }"}')
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]
    }
    assert "boom" not in response.text
