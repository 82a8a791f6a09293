"""Resolver replicas on real processes (docs/reference.md §15): three `dbmesh resolver` processes
over the same SQLite file behind one `dbmesh router` whose config lists the three addresses.

A bounded load is spread round robin (each replica's share, counted from its own log, within
±20 % of a third), and SIGKILLing one replica under load fails no read: the reads it was serving
are tried again on another replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from scaleout.replicas import Replica, Router, replicated_sqlite

REQUESTS = 600
CONCURRENCY = 8
QUERY = "{ things { id name } }"
EXPECTED = {"data": {"things": [{"id": i, "name": f"thing {i}"} for i in range(1, 6)]}}


@dataclass
class Mesh:
    router: Router
    replicas: list[Replica]

    def served(self) -> list[int]:
        return [replica.served() for replica in self.replicas]


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    config, schema, addresses = replicated_sqlite(tmp_path, replicas=3)
    replicas = [Replica(config, address, tmp_path / f"replica{i}.log") for i, address in enumerate(addresses)]
    router = Router(config, schema, tmp_path / "router.log")
    try:
        await asyncio.gather(*(replica.wait_serving() for replica in replicas))
        await router.wait_serving()
        yield Mesh(router, replicas)
    finally:
        router.stop()
        for replica in replicas:
            replica.stop()


async def _load(url: str, count: int, on_done: Callable[[int], None] | None = None) -> list[str]:
    """`count` requests, `CONCURRENCY` at a time; what went wrong with each failed one."""
    failures: list[str] = []
    queue = iter(range(count))
    done = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        for _ in queue:
            response = await client.post(url, json={"query": QUERY})
            body = response.json()
            if response.status_code != 200 or body != EXPECTED:
                failures.append(f"HTTP {response.status_code}: {body}")
            done += 1
            if on_done is not None:
                on_done(done)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return failures


async def _warm_up(mesh: Mesh) -> None:
    """Until the router's round-robin channel has reached every replica once, so the measured
    load starts with all three connected."""
    for _ in range(100):
        assert await _load(mesh.router.url, CONCURRENCY) == []
        if all(mesh.served()):
            return
    raise AssertionError(f"not every replica was reached: {mesh.served()}")


async def test_load_is_spread_evenly_over_three_replicas(mesh: Mesh) -> None:
    await _warm_up(mesh)
    before = mesh.served()
    failures = await _load(mesh.router.url, REQUESTS)
    split = [after - first for after, first in zip(mesh.served(), before, strict=True)]
    print(f"\n{REQUESTS} requests, {CONCURRENCY} concurrent: split over 3 replicas {split}, {len(failures)} failed")
    assert failures == []
    assert sum(split) == REQUESTS  # one Query call per request, each served by exactly one replica
    third = REQUESTS / 3
    assert all(0.8 * third <= share <= 1.2 * third for share in split), split


async def test_a_replica_killed_under_load_fails_no_read(mesh: Mesh) -> None:
    await _warm_up(mesh)
    before = mesh.served()
    victim = mesh.replicas[1]
    killed_at: list[int] = []

    def kill_a_quarter_in(done: int) -> None:
        if done == REQUESTS // 4 and not killed_at:
            victim.kill()
            killed_at.append(done)

    failures = await _load(mesh.router.url, REQUESTS, kill_a_quarter_in)
    split = [after - first for after, first in zip(mesh.served(), before, strict=True)]
    print(
        f"\n{REQUESTS} requests, {CONCURRENCY} concurrent, replica 1 SIGKILLed after {killed_at[0]}:"
        f" split {split}, {len(failures)} failed"
    )
    assert failures == []
    assert victim.process.returncode == -9
    survivors = split[0] + split[2]
    assert survivors >= REQUESTS - split[1]  # everything the dead replica did not answer, others did
    assert split[1] <= killed_at[0]  # and it answered nothing after its death
    assert min(split[0], split[2]) > REQUESTS // 4  # both survivors took over
