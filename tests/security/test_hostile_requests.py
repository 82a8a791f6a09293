"""Hostile requests against the demo, as a client with nothing but HTTP (and, for the resolver,
gRPC) sends them (docs/reference.md §5, §14). Each one is answered with a clear error or a bounded
answer; while it runs, a simple query from another client is still answered within a second; and
no request makes the router or a resolver grow by more than 200 MB. `dbmesh up` as a user runs it:
the router and one resolver process per database, all real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from harness.mesh import UpProcess

from dbmesh.demo import customer_id, prepare
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc

MAX_GROWTH_MB = 200
SIMPLE = '{ customer(id: "%s") { name } }' % customer_id(1)


@pytest.fixture(scope="module")
async def up(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[UpProcess]:
    config, schema = prepare(tmp_path_factory.mktemp("demo"))
    process = await UpProcess(config, schema).start()
    yield process
    await process.stop()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _pids(up: UpProcess) -> dict[str, int]:
    assert up.process is not None
    return {"router": up.process.pid, **{f"resolver {n}": p for n, p in up.pids.items()}}


async def _post(up: UpProcess, body: Any, timeout: float = 60) -> httpx.Response:
    async with httpx.AsyncClient(timeout=timeout) as client:
        if isinstance(body, bytes):
            return await client.post(up.url, content=body, headers={"content-type": "application/json"})
        return await client.post(up.url, json=body)


async def _under_attack(up: UpProcess, attack: Callable[[], Awaitable[Any]]) -> Any:
    """Run `attack`; meanwhile a simple query must answer within a second; no process may grow by
    more than MAX_GROWTH_MB. The attack's result."""
    before = {name: _rss_mb(pid) for name, pid in _pids(up).items()}
    task = asyncio.ensure_future(attack())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    simple = await _post(up, {"query": SIMPLE}, timeout=5)
    took = time.monotonic() - started
    result = await task
    assert simple.json() == {"data": {"customer": {"name": "Grace Lovelace"}}}
    assert took < 1.0, f"a simple query took {took:.2f} s during the attack"
    after = {name: _rss_mb(pid) for name, pid in _pids(up).items()}
    grown = {name: round(after[name] - before[name], 1) for name in before}
    assert all(g < MAX_GROWTH_MB for g in grown.values()), grown
    return result


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


async def test_exponential_fragments_are_answered(up: UpProcess) -> None:
    n = 23
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n - 1))
    query = "{ ...F0 } " + spreads + f" fragment F{n - 1} on Query {{ databaseStatus {{ name }} }}"
    assert len(query) < 1100
    response = await _under_attack(up, lambda: _post(up, {"query": query}))
    assert response.status_code == 200 and len(response.json()["data"]["databaseStatus"]) == 3


@pytest.mark.parametrize("value", ["1e999999999", "1e-999999999"])
async def test_a_huge_decimal_is_refused_at_the_router(up: UpProcess, value: str) -> None:
    literal = '{ customers { allOrders(where: {totalAmount: {_gt: "%s"}}) { id } } }' % value
    response = await _under_attack(up, lambda: _post(up, {"query": literal}))
    assert _codes(response) == ["GRAPHQL_VALIDATION_FAILED"] and "more than 1000 digits" in response.text
    variable = "query($v: Decimal) { customers { allOrders(where: {totalAmount: {_gt: $v}}) { id } } }"
    response = await _under_attack(up, lambda: _post(up, {"query": variable, "variables": {"v": value}}))
    assert _codes(response) == ["BAD_USER_INPUT"] and "more than 1000 digits" in response.text


async def test_nested_amplification_is_refused_before_any_fetch(up: UpProcess) -> None:
    level = "allOrders(limit: 1000000) { customer { %s } }"
    inner = "name"
    for _ in range(5):
        inner = level % inner
    query = "{ customers(limit: 1000000) { %s } }" % inner
    response = await _under_attack(up, lambda: _post(up, {"query": query}))
    assert _codes(response) == ["BAD_USER_INPUT"] and "limit must be at most 10000" in response.text
    within = query.replace("1000000", "10000")
    response = await _under_attack(up, lambda: _post(up, {"query": within}))
    assert _codes(response) == ["QUERY_TOO_COMPLEX"]


async def test_thousands_of_aliases_are_refused(up: UpProcess) -> None:
    query = "{ " + " ".join(f'a{i}: customer(id: "{customer_id(1)}") {{ name }}' for i in range(2500)) + " }"
    response = await _under_attack(up, lambda: _post(up, {"query": query}))
    assert _codes(response) == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize("count", [1_000, 10_000])
async def test_a_deep_fragment_chain_is_a_graphql_error(up: UpProcess, count: int) -> None:
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(count))
    query = "{ ...F0 } " + chain + f" fragment F{count} on Query {{ __typename }}"
    response = await _under_attack(up, lambda: _post(up, {"query": query}))
    assert response.status_code in (200, 400) and response.headers["content-type"].startswith("application/json")
    assert _codes(response)[0] in ("QUERY_TOO_COMPLEX", "BAD_USER_INPUT")


async def test_huge_bodies_are_413(up: UpProcess) -> None:
    comment = b'{"query": "#' + b"x" * (50 * 1024 * 1024) + b'\\n{ __typename }"}'
    response = await _under_attack(up, lambda: _post(up, comment))
    assert response.status_code == 413


async def test_many_distinct_large_queries_do_not_stay_in_memory(up: UpProcess) -> None:
    async def forty() -> list[int]:
        statuses = []
        for i in range(40):
            query = "{ __typename } #" + f"{i}" + "x" * (200 * 1024)
            statuses.append((await _post(up, {"query": query})).status_code)
        return statuses

    assert await _under_attack(up, forty) == [200] * 40


async def test_begin_calls_cannot_exhaust_a_resolvers_pool(up: UpProcess) -> None:
    address = up.addresses["postgres_primary"]

    async def begins() -> list[grpc.StatusCode]:
        codes = []
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pb_grpc.ResolverStub(channel)
            for _ in range(12):
                try:
                    await stub.Begin(pb.BeginRequest(), timeout=5)
                    codes.append(grpc.StatusCode.OK)
                except grpc.aio.AioRpcError as exc:
                    codes.append(exc.code())
        return codes

    codes = await _under_attack(up, begins)
    assert codes == [grpc.StatusCode.OK] * 8 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 4


async def test_half_sent_requests_do_not_hold_the_router(up: UpProcess) -> None:
    url = httpx.URL(up.url)

    async def hold() -> list[bytes]:
        held = []
        for _ in range(500):
            reader, writer = await asyncio.open_connection(url.host, url.port)
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Le")
            held.append((reader, writer))
        closed = await asyncio.gather(*(asyncio.wait_for(r.read(), 30) for r, _ in held))
        for _, writer in held:
            writer.close()
        return closed

    assert await _under_attack(up, hold) == [b""] * 500
